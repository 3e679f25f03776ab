import { diag, type DiagLogger } from '@opentelemetry/api';
import {
  type BatchConfig,
  type ExporterName,
  type LogLevel,
  type OtlpExporterConfig,
  parseConfig,
  type PropagatorName,
  type ResolvedConfig,
  type SamplerConfig,
  type TemporalityPreference,
} from '../config.ts';
import type { OtlpExporterOptions } from '../otlp/exporters.ts';
import { detectRuntime, type Env, type Output, runtimeEnv, type RuntimeInfo } from '../runtime.ts';
import { setupTelemetry, type Telemetry } from './setup.ts';

/** OTLP settings for every signal; a signal's own `otlp` wins over them. */
export interface OtlpOptions extends Partial<Omit<OtlpExporterConfig, 'url'>>, OtlpExporterOptions {
  /**
   * The collector's base URL, as `OTEL_EXPORTER_OTLP_ENDPOINT`: `/v1/traces`, `/v1/metrics` and
   * `/v1/logs` are appended. @default OTEL_EXPORTER_OTLP_ENDPOINT, else http://localhost:4318
   */
  endpoint?: string;
}

/** What every signal takes. */
export interface SignalOptions {
  /**
   * Where the signal goes: `otlp` to the collector, `console` printed as OTLP/JSON; both, or
   * none with `[]`. @default OTEL_{TRACES,METRICS,LOGS}_EXPORTER, else `['otlp']`
   */
  exporters?: ExporterName[];
  /** This signal's OTLP settings; `url` is the full signal URL, e.g. `http://collector:4318/v1/traces`. */
  otlp?: Partial<OtlpExporterConfig>;
}

/** Options of the trace signal, `traces` of {@link RegisterOTelOptions}. */
export interface TracesOptions extends SignalOptions {
  /**
   * Which traces are recorded, e.g. `{ name: 'parentbased_traceidratio', ratio: 0.1 }`.
   * @default OTEL_TRACES_SAMPLER and OTEL_TRACES_SAMPLER_ARG, else parentbased_always_on
   */
  sampler?: Partial<SamplerConfig>;
  /** The batch span processor's delay, queue and batch sizes. @default OTEL_BSP_*, else the specification's */
  batch?: Partial<BatchConfig>;
}

/** Options of the metric signal, `metrics` of {@link RegisterOTelOptions}. */
export interface MetricsOptions extends SignalOptions {
  /** How often metrics are collected and exported. @default OTEL_METRIC_EXPORT_INTERVAL, else 60000 */
  exportIntervalMillis?: number;
  /** How long one collection and export may take. @default OTEL_METRIC_EXPORT_TIMEOUT, else 30000 */
  exportTimeoutMillis?: number;
  /**
   * Cumulative or delta temporality for the OTLP exporter.
   * @default OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE, else cumulative
   */
  temporalityPreference?: TemporalityPreference;
}

/** Options of the log signal, `logs` of {@link RegisterOTelOptions}. */
export interface LogsOptions extends SignalOptions {
  /** The batch log record processor's delay, queue and batch sizes. @default OTEL_BLRP_*, else the specification's */
  batch?: Partial<BatchConfig>;
}

/**
 * Options of {@link registerOTel}. Each wins over the `OTEL_*` variable it names; whatever is
 * not given comes from the environment, then from the specification's defaults.
 */
export interface RegisterOTelOptions {
  /** `service.name`. @default OTEL_SERVICE_NAME, else `unknown_service:<runtime>` */
  serviceName?: string;
  /** Resource attributes, over those of OTEL_RESOURCE_ATTRIBUTES. @default none */
  attributes?: Record<string, string>;
  /** Where the `OTEL_*` variables are read. @default the runtime's (`process.env`, or `Deno.env` where granted) */
  env?: Env;
  /** The runtime named on the resource. @default detected */
  runtime?: RuntimeInfo;
  /** No telemetry at all: the API's no-op providers. @default OTEL_SDK_DISABLED, else false */
  disabled?: boolean;
  /**
   * The W3C propagators that read the incoming context and write the outgoing one, in order.
   * @default OTEL_PROPAGATORS, else `['tracecontext', 'baggage']`
   */
  propagators?: PropagatorName[];
  /**
   * The attribute limits of spans and log records.
   * @default OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT and OTEL_ATTRIBUTE_COUNT_LIMIT, else no length limit and 128 attributes
   */
  limits?: Partial<ResolvedConfig['limits']>;
  /**
   * The outage buffer's bound in bytes and the longest time `shutdown()` spends delivering.
   * @default ROLLDICE_OTLP_BUFFER_BYTES and ROLLDICE_SHUTDOWN_FLUSH_TIMEOUT, else 32 MiB and 5000 ms
   */
  delivery?: Partial<ResolvedConfig['delivery']>;
  /** OTLP settings of every signal, and the exporters' `fetch`, retry and concurrency options. */
  otlp?: OtlpOptions;
  /** The trace signal's exporters, OTLP settings, sampler and batching. */
  traces?: TracesOptions;
  /** The metric signal's exporters, OTLP settings, export interval and temporality. */
  metrics?: MetricsOptions;
  /** The log signal's exporters, OTLP settings and batching. */
  logs?: LogsOptions;
  /**
   * Where the library's own warnings go: invalid `OTEL_*` values (each then ignored, as the
   * specification asks) and telemetry lost on the way to the collector. @default `diag.warn`
   */
  onWarning?: (message: string) => void;
  /**
   * Installed as the API's global diag logger, at `logLevel`. Without it the global diag logger
   * is left as it is, and nothing is written to the console. @default none
   */
  diagLogger?: DiagLogger;
  /** The level of `diagLogger`. @default OTEL_LOG_LEVEL, else info */
  logLevel?: LogLevel;
  /** Where console exporters print (`exporters: ['console']`). @default console.log */
  output?: Pick<Output, 'stdout'>;
}

const EXPORTER_VARIABLES = new Set(['OTEL_TRACES_EXPORTER', 'OTEL_METRICS_EXPORTER', 'OTEL_LOGS_EXPORTER']);

/**
 * Sets up OpenTelemetry for the process in one call, and returns its {@link Telemetry}. Call it
 * once at startup, before serving; a string argument is the service name.
 *
 * It reads the standard `OTEL_*` variables from the runtime's environment (on Deno, grant them
 * with `--allow-env=OTEL_*`), puts the service and the runtime (Node.js, Deno or Bun, with its
 * version) on the resource, installs the tracer, meter and logger providers, the W3C Trace
 * Context and Baggage propagators and an AsyncLocalStorage context manager as the
 * `@opentelemetry/api` globals, and exports traces, metrics and logs over OTLP/HTTP (protobuf)
 * with `fetch`, to `http://localhost:4318` unless `OTEL_EXPORTER_OTLP_ENDPOINT` or
 * `otlp.endpoint` says otherwise. Options win over the variables they name.
 *
 * Export runs in the background: a collector that is down costs a warning, not latency, and
 * what it could not take yet is held (`delivery.bufferBytes` at most, 32 MiB by default; the
 * oldest goes first) and sent once it answers again. Nothing flushes at exit by itself: await `shutdown()` when the process is
 * asked to stop, after the server has stopped taking requests.
 *
 * It never doubles another OpenTelemetry: when a tracer, meter or logger provider is already
 * registered (Deno's own under `OTEL_DENO=true`, Bun's under `BUN_OTEL`, another SDK, an
 * earlier call not shut down) it throws a {@link TelemetryConflictError} whose message says
 * what to change, and registers nothing. It writes nothing to the console: invalid `OTEL_*`
 * values (each then ignored) and lost telemetry go to `onWarning`, else to `diag.warn`.
 *
 * @example
 * ```ts
 * import { instrument, registerOTel } from '@rolldice/otel';
 *
 * const otel = registerOTel({ serviceName: 'dice' });
 * const server = Deno.serve(instrument((request) => new Response('hi')));
 * Deno.addSignalListener('SIGTERM', async () => {
 *   await server.shutdown();
 *   await otel.shutdown();
 *   Deno.exit(0);
 * });
 * ```
 */
export function registerOTel(options: RegisterOTelOptions | string = {}): Telemetry {
  const given: RegisterOTelOptions = typeof options === 'string' ? { serviceName: options } : options;
  const warn = given.onWarning ?? ((message: string) => diag.warn(message));
  let denied = false;
  const env = given.env ?? runtimeEnv((name) => (denied ||= name.startsWith('OTEL_')));
  // The specification's default exporter is otlp (the dice service prints to the console instead).
  const withOtlpDefault = new Proxy(env, {
    get: (target, name) =>
      typeof name === 'string' && EXPORTER_VARIABLES.has(name) && !target[name]?.trim()
        ? 'otlp'
        : target[name as string],
  });
  const parsed = parseConfig(withOtlpDefault, warn);
  if (denied) {
    warn('Cannot read the OTEL_* variables: Deno grants no access to them; run with --allow-env=OTEL_* to use them');
  }
  const runtime = given.runtime ?? detectRuntime();
  // What is left of `otlp` once the settings of every signal are taken out: the transport's options.
  const { endpoint, protocol, headers, timeoutMillis, compression, ...transport } = given.otlp ?? {};
  const config = applyOptions(parsed, given, { endpoint, protocol, headers, timeoutMillis, compression });
  return setupTelemetry({
    config,
    runtime,
    diagLogger: given.diagLogger ?? false,
    output: given.output === undefined ? undefined : { stdout: given.output.stdout, stderr: () => {} },
    streamRequestBodies: runtime?.streamRequestBodies,
    otlp: { reportLoss: given.onWarning, ...transport },
  });
}

/** The configuration read from the environment, with what the options say put over it. */
function applyOptions(
  config: ResolvedConfig,
  options: RegisterOTelOptions,
  general: Omit<OtlpOptions, keyof OtlpExporterOptions>,
): ResolvedConfig {
  const otlp = (
    signal: 'traces' | 'metrics' | 'logs',
    own: OtlpExporterConfig,
    given?: Partial<OtlpExporterConfig>,
  ) => ({
    url: given?.url ?? (general.endpoint === undefined ? own.url : signalUrl(general.endpoint, signal)),
    protocol: given?.protocol ?? general.protocol ?? own.protocol,
    headers: given?.headers ?? general.headers ?? own.headers,
    timeoutMillis: given?.timeoutMillis ?? general.timeoutMillis ?? own.timeoutMillis,
    compression: given?.compression ?? general.compression ?? own.compression,
  });
  const { traces = {}, metrics = {}, logs = {} } = options;
  return {
    disabled: options.disabled ?? config.disabled,
    serviceName: options.serviceName ?? config.serviceName,
    resourceAttributes: { ...config.resourceAttributes, ...options.attributes },
    propagators: options.propagators ?? config.propagators,
    logLevel: options.logLevel ?? config.logLevel,
    limits: { ...config.limits, ...options.limits },
    delivery: { ...config.delivery, ...options.delivery },
    traces: {
      exporters: traces.exporters ?? config.traces.exporters,
      otlp: otlp('traces', config.traces.otlp, traces.otlp),
      sampler: { ...config.traces.sampler, ...traces.sampler },
      batch: { ...config.traces.batch, ...traces.batch },
    },
    metrics: {
      exporters: metrics.exporters ?? config.metrics.exporters,
      otlp: otlp('metrics', config.metrics.otlp, metrics.otlp),
      exportIntervalMillis: metrics.exportIntervalMillis ?? config.metrics.exportIntervalMillis,
      exportTimeoutMillis: metrics.exportTimeoutMillis ?? config.metrics.exportTimeoutMillis,
      temporalityPreference: metrics.temporalityPreference ?? config.metrics.temporalityPreference,
    },
    logs: {
      exporters: logs.exporters ?? config.logs.exporters,
      otlp: otlp('logs', config.logs.otlp, logs.otlp),
      batch: { ...config.logs.batch, ...logs.batch },
    },
  };
}

/** The base URL with the signal's path after it, with exactly one slash, as for OTEL_EXPORTER_OTLP_ENDPOINT. */
function signalUrl(base: string, signal: 'traces' | 'metrics' | 'logs'): string {
  const end = base.search(/[?#]/);
  const [path, rest] = end < 0 ? [base, ''] : [base.slice(0, end), base.slice(end)];
  return `${path.replace(/\/+$/, '')}/v1/${signal}${rest}`;
}
