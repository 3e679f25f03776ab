/**
 * OpenTelemetry for any fetch handler on Node.js, Deno and Bun: one call sets up traces,
 * metrics and logs from the standard `OTEL_*` variables and exports them over OTLP/HTTP with
 * `fetch`; `instrument()` wraps `Deno.serve`, `Bun.serve`, Hono and node:http handlers
 * without changing their type, with the stable HTTP semantic conventions and exact W3C
 * propagation. Built on web standards and the official OpenTelemetry packages. The Hono
 * middleware is in `./hono`.
 *
 * @example
 * ```ts
 * import { instrument, registerOTel } from '@rolldice/otel';
 *
 * registerOTel({ serviceName: 'dice' });
 * Deno.serve(instrument((request) => new Response('hi')));
 * ```
 *
 * @module
 */

// Setting up, in one call: the `OTEL_*` variables, providers, propagator, shutdown.
export {
  type LogsOptions,
  type MetricsOptions,
  type OtlpOptions,
  registerOTel,
  type RegisterOTelOptions,
  type SignalOptions,
  type TracesOptions,
} from './src/sdk/register.ts';
export { setupTelemetry, type SetupTelemetryOptions, type Telemetry, TelemetryConflictError } from './src/sdk/setup.ts';
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
export { consoleOutput, detectRuntime, type Env, type Output, runtimeEnv, type RuntimeInfo } from './src/runtime.ts';
export { createLineDiagLogger } from './src/sdk/diag.ts';

// Instrumenting a server: one span and one duration point per request, the route set once matched.
export {
  type AnyFetchHandler,
  createHttpServerInstrumentation,
  type FetchHandler,
  HTTP_SERVER_SCOPE,
  type HttpServerInstrumentation,
  type HttpServerOptions,
  instrument,
  type InstrumentHandlerOptions,
  type InstrumentOptions,
  type ServerRequestInfo,
  setRoute,
} from './src/http/server.ts';

// Instrumenting outgoing requests: a client span per fetch, the context in its headers.
export {
  createInstrumentedFetch,
  HTTP_CLIENT_SCOPE,
  type InstrumentedFetchOptions,
  instrumentGlobalFetch,
  type UrlMatcher,
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
export {
  createOtlpLogExporter,
  createOtlpMetricExporter,
  createOtlpSpanExporter,
  type OtlpExporterOptions,
} from './src/otlp/exporters.ts';
export type { BackoffOptions as RetryOptions, DeliveryBudget } from './src/otlp/delivery.ts';
export { createDeliveryBudget } from './src/otlp/delivery.ts';
export type { CancelTimer } from './src/otlp/loss-reporter.ts';
export type { ExporterTally, OtlpHealth, ProcessorTally, TelemetrySignal } from './src/otlp/self-metrics.ts';
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
export { parseRequestTarget, redactQuery, redactUrl, type RequestTarget } from './src/url.ts';
export { readBodyUpTo } from './src/http/body.ts';
export { describeError } from './src/errors.ts';
export { PACKAGE_NAME, VERSION } from './src/version.ts';
