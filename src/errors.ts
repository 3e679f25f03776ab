/**
 * One line for an error: its message, with the detail Node keeps in `cause` (`fetch failed`
 * hides `ECONNREFUSED …` there), and every error of an `AggregateError`; no stack.
 *
 * @example
 * ```ts
 * import { describeError } from '@rolldice/otel';
 *
 * describeError(new TypeError('fetch failed', { cause: new Error('connect ECONNREFUSED 127.0.0.1:4318') }));
 * // 'fetch failed (connect ECONNREFUSED 127.0.0.1:4318)'
 * ```
 */
export function describeError(error: unknown): string {
  if (error instanceof AggregateError && error.errors.length > 0) return error.errors.map(describeError).join('; ');
  if (!(error instanceof Error)) return String(error);
  const cause = error.cause;
  const detail = cause instanceof Error ? cause.message : typeof cause === 'string' ? cause : undefined;
  return detail && !error.message.includes(detail) ? `${error.message} (${detail})` : error.message;
}
