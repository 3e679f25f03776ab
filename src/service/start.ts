import {
  type FetchHandler,
  type Output,
  type RuntimeInfo,
  setupTelemetry,
  type Telemetry,
  TelemetryConflictError,
} from '../../mod.ts';
import { createApp } from './app.ts';
import { ConfigError, parseServiceConfig, type ServiceConfig } from './config.ts';

export interface StartServiceOptions {
  runtime: RuntimeInfo;
  /** The environment, e.g. `process.env`: `PORT`, `HOST`, `ROLLDICE_UPSTREAM` and `OTEL_*`. */
  env: Readonly<Record<string, string | undefined>>;
  /** Where telemetry (console exporters) and diagnostics go. */
  output: Output;
  /** Ends the process, after one line on stderr, when the service cannot start. */
  exit(code: number): never;
  /** The runtime's fetch sends a one-chunk stream body without copying it (Node's does). */
  streamRequestBodies?: boolean;
}

export interface Service {
  readonly fetch: FetchHandler;
  readonly config: ServiceConfig;
  readonly telemetry: Telemetry;
}

/**
 * Everything an adapter needs: the configuration read, telemetry set up, the handler built.
 * A setting the service cannot start with, or telemetry that another SDK already owns (Deno's
 * built-in OpenTelemetry under `OTEL_DENO=true`), gets one line on stderr and exit code 1.
 */
export function startService(options: StartServiceOptions): Service {
  const { runtime, env, output } = options;
  const warn = (message: string) => output.stderr(`rolldice: ${message}`);
  try {
    const config = parseServiceConfig(env, warn);
    const telemetry = setupTelemetry({
      config: config.telemetry,
      runtime,
      output,
      streamRequestBodies: options.streamRequestBodies,
    });
    return { fetch: createApp(telemetry, { upstream: config.upstream }), config, telemetry };
  } catch (error) {
    if (!(error instanceof ConfigError || error instanceof TelemetryConflictError)) throw error;
    warn(`cannot start: ${error.message}`);
    return options.exit(1);
  }
}
