import { createApp } from './app.ts';
import { parseConfig, type ResolvedConfig } from './config.ts';
import type { FetchHandler } from './http-server.ts';
import { consoleOutput, type Output, type RuntimeInfo } from './runtime.ts';
import { setupTelemetry, type Telemetry } from './sdk.ts';

export interface StartServiceOptions {
  runtime: RuntimeInfo;
  /**
   * The environment to read `OTEL_*` and `ROLLDICE_UPSTREAM` (another dice service to take the
   * rolls from, e.g. `http://dice-b:8080`) from, e.g. `process.env` or `Deno.env.toObject()`.
   */
  env: Readonly<Record<string, string | undefined>>;
  /** @default consoleOutput */
  output?: Output;
  /** Ends the process, after one line on stderr, when the service cannot start. */
  exit(code: number): never;
}

export interface Service {
  readonly fetch: FetchHandler;
  readonly config: ResolvedConfig;
  readonly telemetry: Telemetry;
}

/**
 * Everything an adapter needs: the configuration read, telemetry set up, the handler built.
 * A service that cannot start (e.g. a malformed `ROLLDICE_UPSTREAM`) says why in one line
 * and exits 1.
 */
export function startService(options: StartServiceOptions): Service {
  const { runtime, env, output = consoleOutput } = options;
  const config = parseConfig(env, (message) => output.stderr(`rolldice: ${message}`));
  const telemetry = setupTelemetry({ config, runtime, output });
  const upstream = env.ROLLDICE_UPSTREAM || undefined;
  try {
    return { fetch: createApp(telemetry, { upstream }), config, telemetry };
  } catch (error) {
    output.stderr(`rolldice: cannot start: ${error instanceof Error ? error.message : String(error)}`);
    return options.exit(1);
  }
}
