/**
 * OpenTelemetry for fetch-style HTTP servers on Node.js, Deno and Bun: server and client
 * instrumentation with the stable HTTP semantic conventions, exact W3C propagation, and an
 * SDK set up from the standard `OTEL_*` variables that exports over fetch (OTLP/HTTP, JSON or
 * protobuf) or to the console. Built on web standards and the official OpenTelemetry packages.
 *
 * @module
 */

// Setting up: configuration from `OTEL_*`, providers, propagator, shutdown.
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
export { consoleOutput, type Output, type RuntimeInfo } from './src/runtime.ts';
export { setupTelemetry, type SetupTelemetryOptions, type Telemetry } from './src/sdk/setup.ts';

// Instrumenting a server: one span and one duration point per request.
export {
  createHttpServerInstrumentation,
  type FetchHandler,
  HTTP_SERVER_SCOPE,
  type HttpServerInstrumentation,
  instrumentHandler,
  type InstrumentHandlerOptions,
  type ServerRequestInfo,
} from './src/http/server.ts';

// Instrumenting outgoing requests: a client span per fetch, the context in its headers.
export {
  createInstrumentedFetch,
  HTTP_CLIENT_SCOPE,
  type InstrumentedFetchOptions,
  instrumentGlobalFetch,
} from './src/http/client.ts';

// W3C Trace Context (Level 2) and Baggage, exact where the official propagators are lenient.
export {
  createW3CBaggagePropagator,
  createW3CPropagator,
  createW3CTraceContextPropagator,
  W3CTraceState,
} from './src/w3c/propagation.ts';
export { RANDOM_TRACE_FLAG, tracerProviderWithRandomFlag } from './src/w3c/random-flag.ts';

// Exporters: OTLP/HTTP over fetch, and the console.
export { createOtlpLogExporter, createOtlpMetricExporter, createOtlpSpanExporter } from './src/otlp/exporters.ts';
export {
  createOtlpProtobufLogRecordProcessor,
  createOtlpProtobufSpanProcessor,
} from './src/otlp/encoding-batch-processor.ts';
export {
  createConsoleLogExporter,
  createConsoleMetricExporter,
  createConsoleSpanExporter,
} from './src/sdk/console-exporters.ts';

// Helpers for handlers: the request target parsed once, URLs fit for telemetry, bounded bodies, errors in a line.
export { parseRequestTarget, redactUrl, type RequestTarget } from './src/url.ts';
export { readBodyUpTo } from './src/http/body.ts';
export { describeError } from './src/errors.ts';
export { VERSION } from './src/version.ts';
