/** Why an export failed, as values the loss report and the SDK's own metrics can word. */

/** An error whose `reason` completes "Dropped 3 spans: …" in the loss report. */
export interface ExportError extends Error {
  reason: string;
  /**
   * A low-cardinality cause for `error.type` on `otel.sdk.exporter.*.exported`: an HTTP
   * status code (`503`), `timeout`, `connection_failed`, `rejected`, `buffer_full`, `shutdown`.
   */
  errorType: string;
}

export function exportError(reason: string, errorType: string, cause?: unknown): ExportError {
  const message = reason.charAt(0).toUpperCase() + reason.slice(1);
  const error = new Error(message, cause === undefined ? undefined : { cause }) as ExportError;
  error.reason = reason;
  error.errorType = errorType;
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

/** The `error.type` of an export failure; `_OTHER` when it does not say. */
export function errorTypeOf(error: unknown): string {
  const type = (error as Partial<ExportError> | undefined)?.errorType;
  return typeof type === 'string' ? type : '_OTHER';
}
