/**
 * rolldice: the OpenTelemetry "Getting Started" dice service and its instrumentation, as
 * runtime-neutral building blocks for Node.js, Deno and Bun.
 *
 * @module
 */

export { createApp, type CreateAppOptions, DEFAULT_UPSTREAM_TIMEOUT_MILLIS } from './src/app.ts';
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
  createInstrumentedFetch,
  HTTP_CLIENT_SCOPE,
  instrumentGlobalFetch,
  type InstrumentedFetchOptions,
} from './src/http-client.ts';
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
export { createOtlpProtobufLogRecordProcessor, createOtlpProtobufSpanProcessor } from './src/otlp/encoding-batch-processor.ts';
export {
  createW3CBaggagePropagator,
  createW3CPropagator,
  createW3CTraceContextPropagator,
  W3CTraceState,
} from './src/propagation.ts';
export { RANDOM_TRACE_FLAG, tracerProviderWithRandomFlag } from './src/random-flag.ts';
export {
  createRollDice,
  MAX_PLAYER_NAME_LENGTH,
  ROLLDICE_SCOPE,
  type RollDiceOptions,
  type RollDiceUpstream,
} from './src/rolldice.ts';
export { createRouter, type Route, type RouteRequestInfo, textResponse } from './src/router.ts';
export { consoleOutput, type Output, type RuntimeInfo } from './src/runtime.ts';
export { setupTelemetry, type SetupTelemetryOptions, type Telemetry } from './src/sdk.ts';
export { type Service, startService, type StartServiceOptions } from './src/service.ts';
export { createGracefulShutdown, type GracefulShutdownOptions } from './src/shutdown.ts';
