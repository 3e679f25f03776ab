import { diag, type DiagLogger, DiagLogLevel } from '@opentelemetry/api';
import type { LogLevel } from '../config.ts';
import type { Output } from '../runtime.ts';

const DIAG_LEVELS: Record<LogLevel, DiagLogLevel> = {
  none: DiagLogLevel.NONE,
  error: DiagLogLevel.ERROR,
  warn: DiagLogLevel.WARN,
  info: DiagLogLevel.INFO,
  debug: DiagLogLevel.DEBUG,
  verbose: DiagLogLevel.VERBOSE,
  all: DiagLogLevel.ALL,
};

/** Sends the SDK's own diagnostics to stderr, one prefixed line each, so stdout stays telemetry. */
export function setDiagLogger(level: LogLevel, output: Output): void {
  const line = (severity: string) => (message: string, ...args: unknown[]) =>
    output.stderr(`rolldice: otel ${severity}: ${[message, ...args].map(describeArgument).join(' ')}`);
  const logger: DiagLogger = {
    error: line('error'),
    warn: line('warn'),
    info: line('info'),
    debug: line('debug'),
    verbose: line('verbose'),
  };
  diag.setLogger(logger, { logLevel: DIAG_LEVELS[level], suppressOverrideMessage: true });
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
