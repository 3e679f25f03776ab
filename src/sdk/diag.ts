import { type DiagLogger, DiagLogLevel } from '@opentelemetry/api';
import type { LogLevel } from '../config.ts';

/** `OTEL_LOG_LEVEL`'s values as the API's diag levels. */
export const DIAG_LEVELS: Record<LogLevel, DiagLogLevel> = {
  none: DiagLogLevel.NONE,
  error: DiagLogLevel.ERROR,
  warn: DiagLogLevel.WARN,
  info: DiagLogLevel.INFO,
  debug: DiagLogLevel.DEBUG,
  verbose: DiagLogLevel.VERBOSE,
  all: DiagLogLevel.ALL,
};

/**
 * A diag logger that writes one prefixed line per message, e.g.
 * `rolldice: otel warn: Dropped 3 spans: ...`: the SDK's diagnostics, readable on a terminal,
 * with errors the SDK passes as objects shown by their message. It writes only where it is
 * installed, e.g. by `registerOTel({ diagLogger })`.
 *
 * @example
 * ```ts
 * import { createLineDiagLogger, registerOTel } from '@rolldice/otel';
 *
 * registerOTel({ serviceName: 'dice', diagLogger: createLineDiagLogger((line) => console.error(line), 'dice: otel') });
 * ```
 */
export function createLineDiagLogger(write: (line: string) => void, prefix = 'rolldice: otel'): DiagLogger {
  const line = (severity: string) => (message: string, ...args: unknown[]) =>
    write(`${prefix} ${severity}: ${[message, ...args].map(describeArgument).join(' ')}`);
  return {
    error: line('error'),
    warn: line('warn'),
    info: line('info'),
    debug: line('debug'),
    verbose: line('verbose'),
  };
}

function describeArgument(value: unknown): string {
  if (typeof value === 'string') {
    // The SDK's global error handler logs errors as the message itself, in JSON
    // ({"stack": ..., "message": ...}): the message is what an operator needs.
    if (!value.startsWith('{"')) return value;
    try {
      return describeArgument(JSON.parse(value));
    } catch {
      return value;
    }
  }
  // The SDK's global error handler passes errors flattened into plain objects.
  const message = (value as { message?: unknown } | null)?.message;
  if (typeof message === 'string') return message;
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}
