/** Why an export failed, as values the loss report can word. */

/** An error whose `reason` completes "Dropped 3 spans: …" in the loss report. */
export interface ExportError extends Error {
  reason: string;
  /** The attempt ran out of the time it was given, rather than being refused. */
  timedOut?: boolean;
}

export function exportError(reason: string, cause?: unknown): ExportError {
  const message = reason.charAt(0).toUpperCase() + reason.slice(1);
  const error = new Error(message, cause === undefined ? undefined : { cause }) as ExportError;
  error.reason = reason;
  return error;
}

/** The reason phrase of an export failure, lower case, for "Dropped N spans: <reason>". */
export function reasonOf(error: unknown): string {
  if (error instanceof Error) {
    const reason = (error as Partial<ExportError>).reason;
    return typeof reason === 'string' ? reason : error.message;
  }
  return String(error);
}
