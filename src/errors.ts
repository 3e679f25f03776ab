/**
 * One line for an error: its message, with the detail Node keeps in `cause` (`fetch failed`
 * hides `ECONNREFUSED …` there), and every error of an `AggregateError`.
 */
export function describeError(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return error.errors.map(describeError).join('; ');
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  const detail = cause instanceof Error ? cause.message : typeof cause === 'string' ? cause : undefined;
  return detail && !error.message.includes(detail) ? `${error.message} (${detail})` : error.message;
}
