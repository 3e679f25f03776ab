/**
 * rolldice: the OpenTelemetry "Getting Started" dice service and its instrumentation, as
 * runtime-neutral building blocks for Node.js, Deno and Bun.
 *
 * @module
 */

export { createApp, type CreateAppOptions } from './src/app.ts';
export {
  type BatchConfig,
  type ExporterName,
  type LogLevel,
  type OtlpExporterConfig,
  type OtlpProtocol,
  parseConfig,
  type PropagatorName,
  type ResolvedConfig,
  type SamplerConfig,
  type SamplerName,
  type TemporalityPreference,
} from './src/config.ts';
export {
  createConsoleLogExporter,
  createConsoleMetricExporter,
  createConsoleSpanExporter,
} from './src/console-exporters.ts';
export {
  createHttpServerInstrumentation,
  type FetchHandler,
  HTTP_SERVER_SCOPE,
  type HttpServerInstrumentation,
  instrumentHandler,
  type InstrumentHandlerOptions,
  type ServerRequestInfo,
} from './src/http-server.ts';
export { createOtlpLogExporter, createOtlpMetricExporter, createOtlpSpanExporter } from './src/otlp/exporters.ts';
export { createRollDice, MAX_PLAYER_NAME_LENGTH, ROLLDICE_SCOPE, type RollDiceOptions } from './src/rolldice.ts';
export { createRouter, type Route, type RouteRequestInfo, textResponse } from './src/router.ts';
export { consoleOutput, type Output, type RuntimeInfo } from './src/runtime.ts';
export { setupTelemetry, type SetupTelemetryOptions, type Telemetry } from './src/sdk.ts';
export { type Service, startService, type StartServiceOptions } from './src/service.ts';
export { createGracefulShutdown, type GracefulShutdownOptions } from './src/shutdown.ts';
