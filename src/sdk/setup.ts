import {
  diag,
  type DiagLogger,
  DiagLogLevel,
  logs,
  type MeterProvider as ApiMeterProvider,
  metrics,
  propagation,
  type TextMapPropagator,
  trace,
  type TracerProvider as ApiTracerProvider,
} from '@opentelemetry/api';
import type { LoggerProvider as ApiLoggerProvider } from '@opentelemetry/api';
import { BatchLogRecordProcessor, LoggerProvider, type LogRecordProcessor } from '@opentelemetry/sdk-logs';
import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
import {
  AlwaysOffSampler,
  AlwaysOnSampler,
  BatchSpanProcessor,
  ParentBasedSampler,
  type Sampler,
  type SpanProcessor,
  TraceIdRatioBasedSampler,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import type { LogLevel, ResolvedConfig, SamplerConfig } from '../config.ts';
import {
  createConsoleLogExporter,
  createConsoleMetricExporter,
  createConsoleSpanExporter,
} from './console-exporters.ts';
import { registerContextManager } from './context.ts';
import {
  createOtlpLogExporter,
  createOtlpMetricExporter,
  createOtlpSpanExporter,
  type OtlpExporterOptions,
} from '../otlp/exporters.ts';
import {
  createOtlpProtobufLogRecordProcessor,
  createOtlpProtobufSpanProcessor,
} from '../otlp/encoding-batch-processor.ts';
import { createDeliveryBudget } from '../otlp/delivery.ts';
import { createOtlpHealth } from '../otlp/self-metrics.ts';
import { settleShutdown } from '../otlp/shutdown-loss.ts';
import { createW3CPropagator } from '../w3c/propagation.ts';
import { tracerProviderWithRandomFlag } from '../w3c/random-flag.ts';
import { createResource } from './resource.ts';
import { createLineDiagLogger, DIAG_LEVELS } from './diag.ts';
import { settlesWithin } from '../deadline.ts';
import { detectRuntime, type Output, type RuntimeInfo, runtimeTelemetryVariable } from '../runtime.ts';
import { type GlobalSlot, registeredGlobal } from './globals.ts';
import { PACKAGE_NAME } from '../version.ts';

/** The providers and propagator the instrumentation uses, and their lifecycle. */
export interface Telemetry {
  /** False under `OTEL_SDK_DISABLED=true`: the providers are the API's no-ops. */
  readonly enabled: boolean;
  /** Gives the tracers that make spans: `tracerProvider.getTracer('my-app')`. */
  readonly tracerProvider: ApiTracerProvider;
  /** Gives the meters that make metric instruments: `meterProvider.getMeter('my-app')`. */
  readonly meterProvider: ApiMeterProvider;
  /** Gives the loggers that emit log records: `loggerProvider.getLogger('my-app')`. */
  readonly loggerProvider: ApiLoggerProvider;
  /** Reads the incoming context from headers and writes the outgoing one: the W3C propagators configured. */
  readonly propagator: TextMapPropagator;
  /** Exports everything buffered so far, on every signal. */
  forceFlush(): Promise<void>;
  /**
   * Flushes and stops every signal, then takes its providers out of the API's globals, so that
   * telemetry may be set up again. Idempotent: later calls return the first call's promise.
   * Rejects with one error counting, per signal, what could not be delivered, or with an
   * `AggregateError` holding every signal's error.
   */
  shutdown(): Promise<void>;
}

/** Options of {@link setupTelemetry}. */
export interface SetupTelemetryOptions {
  /** Every setting, e.g. from `parseConfig()`; nothing is read from the environment. */
  config: ResolvedConfig;
  /** Becomes `process.runtime.*` on the resource. @default detectRuntime() */
  runtime?: RuntimeInfo;
  /**
   * Where console exporters print. Given, it is also where the SDK's own diagnostics go, one
   * line each on `stderr` at `config.logLevel`, through a global diag logger installed for
   * them. @default console exporters print with `console.log`,
   * and the global diag logger is left alone
   */
  output?: Output;
  /**
   * Installs this as the API's global diag logger, at `config.logLevel`; `false` leaves the
   * global one alone. @default lines on `output.stderr` when `output` is given, else `false`
   */
  diagLogger?: DiagLogger | false;
  /**
   * Also install the providers and the propagator as the `@opentelemetry/api` globals. Refused
   * with a {@link TelemetryConflictError} when a tracer, meter or logger provider is already
   * registered there. @default true
   */
  registerGlobals?: boolean;
  /**
   * Hand OTLP request bodies to fetch as a one-chunk stream with their length: Node's fetch
   * copies a byte body twice, a stream it does not. Its adapter says so. @default false
   */
  streamRequestBodies?: boolean;
  /** Options of every OTLP exporter: the `fetch` they send with, retries, test clocks. */
  otlp?: OtlpExporterOptions;
}

/**
 * Thrown by {@link setupTelemetry} and `registerOTel()` when a tracer, meter or logger provider is
 * already registered in the API's globals: by the runtime's own OpenTelemetry (`OTEL_DENO=true`
 * on Deno, `BUN_OTEL` on Bun), by another SDK, or by an earlier setup not shut down. Two SDKs
 * would export twice, or one would silently get nothing; its message is the one line to show.
 *
 * @example
 * ```ts
 * import { registerOTel, TelemetryConflictError } from '@rolldice/otel';
 *
 * try {
 *   registerOTel({ serviceName: 'dice' });
 * } catch (error) {
 *   if (!(error instanceof TelemetryConflictError)) throw error;
 *   console.error(error.message); // what to change, e.g. unset OTEL_DENO
 * }
 * ```
 */
export class TelemetryConflictError extends Error {
  /** Always `'TelemetryConflictError'`: it names the error in logs, and where `instanceof` cannot. */
  override name = 'TelemetryConflictError';
}

const SIGNALS: Record<'trace' | 'metrics' | 'logs', string> = {
  trace: 'tracer',
  metrics: 'meter',
  logs: 'logger',
};

/** Refuses to set up a second SDK beside one that already owns the API's globals. */
function checkGlobalsFree(): void {
  const taken = (Object.keys(SIGNALS) as (keyof typeof SIGNALS)[]).filter((slot) =>
    registeredGlobal(slot) !== undefined
  );
  if (taken.length === 0) return;
  const names = taken.map((slot) => SIGNALS[slot]);
  const providers = `${names.slice(0, -1).join(', ')}${names.length > 1 ? ' and ' : ''}${names.at(-1)} provider${
    names.length > 1 ? 's are' : ' is'
  } already registered`;
  const variable = runtimeTelemetryVariable();
  if (variable !== undefined) {
    const name = variable.slice(0, variable.indexOf('='));
    const runtime = name === 'OTEL_DENO' ? 'Deno' : 'Bun';
    throw new TelemetryConflictError(
      `${variable} turns on ${runtime}'s built-in OpenTelemetry, whose ${providers}: unset ${name} ` +
        `(or set it to false) to export with ${PACKAGE_NAME}, or leave ${PACKAGE_NAME}'s SDK out to keep ${runtime}'s`,
    );
  }
  throw new TelemetryConflictError(
    `A global ${providers} (another OpenTelemetry SDK, or an earlier setup not shut down): ` +
      `set up one SDK per process, or shut the other one down first`,
  );
}

/**
 * Builds the tracer, meter and logger providers from a configuration given whole, for an
 * embedder that reads its settings itself; `registerOTel()` is the one call that reads the
 * environment. It makes the W3C propagators, a batch span and log record processor and a
 * periodic metric reader per exporter, all OTLP exporters sharing one outage buffer, and one
 * `shutdown()` for all of them; it installs them as the API's globals unless
 * `registerGlobals: false`, and refuses, as `registerOTel()` does, when another SDK has.
 *
 * @example
 * ```ts
 * import { parseConfig, setupTelemetry } from '@rolldice/otel';
 *
 * const config = parseConfig({ OTEL_SERVICE_NAME: 'dice', OTEL_TRACES_EXPORTER: 'console' }, console.warn);
 * const telemetry = setupTelemetry({ config, registerGlobals: false });
 * const tracer = telemetry.tracerProvider.getTracer('my-app');
 * tracer.startSpan('work').end();
 * await telemetry.shutdown();
 * ```
 */
export function setupTelemetry(options: SetupTelemetryOptions): Telemetry {
  const { config, runtime = detectRuntime(), output, registerGlobals = true } = options;
  const diagLogger = options.diagLogger ?? (output ? createLineDiagLogger(output.stderr) : false);
  if (diagLogger) setDiagLogger(diagLogger, config.logLevel);
  const print = output ? output.stdout : (text: string) => console.log(text);
  const propagator = createPropagator(config.propagators);

  if (config.disabled) {
    return {
      enabled: false,
      tracerProvider: trace.getTracerProvider(),
      meterProvider: metrics.getMeterProvider(),
      loggerProvider: logs.getLoggerProvider(),
      propagator,
      forceFlush: () => Promise.resolve(),
      shutdown: () => Promise.resolve(),
    };
  }

  if (registerGlobals) checkGlobalsFree();
  registerContextManager();
  const resource = createResource(config, runtime);
  const limits = {
    attributeCountLimit: config.limits.attributeCountLimit,
    ...(config.limits.attributeValueLengthLimit === undefined
      ? {}
      : { attributeValueLengthLimit: config.limits.attributeValueLengthLimit }),
  };

  // One outage-buffer bound and one shutdown time for every signal; their health becomes metrics.
  const health = createOtlpHealth();
  const budget = createDeliveryBudget(config.delivery.bufferBytes);
  const otlp: OtlpExporterOptions = {
    streamBody: options.streamRequestBodies ?? false,
    budget,
    shutdownTimeoutMillis: config.delivery.shutdownFlushMillis,
    health,
    ...options.otlp,
  };

  const sdkTracerProvider = new TracerProvider({
    resource,
    sampler: createSampler(config.traces.sampler),
    spanLimits: limits,
    spanProcessors: config.traces.exporters.map((name): SpanProcessor =>
      name === 'otlp' && config.traces.otlp.protocol === 'http/protobuf'
        // Encodes spans soon after they end rather than keeping them until the batch is sent.
        ? createOtlpProtobufSpanProcessor(config.traces.otlp, config.traces.batch, otlp)
        : new BatchSpanProcessor({
          exporter: name === 'otlp'
            ? createOtlpSpanExporter(config.traces.otlp, otlp)
            : createConsoleSpanExporter(print),
          ...config.traces.batch,
        })
    ),
  });

  // Its tracers keep W3C Level 2's random flag, which the SDK drops (w3c/random-flag.ts).
  const tracerProvider = tracerProviderWithRandomFlag(sdkTracerProvider);

  const { exportIntervalMillis } = config.metrics;
  const meterProvider = new MeterProvider({
    resource,
    readers: config.metrics.exporters.map((name) =>
      new PeriodicExportingMetricReader({
        exporter: name === 'otlp'
          ? createOtlpMetricExporter(config.metrics.otlp, config.metrics.temporalityPreference, otlp)
          : createConsoleMetricExporter(print),
        exportIntervalMillis,
        // The reader refuses a timeout longer than the interval.
        exportTimeoutMillis: Math.min(config.metrics.exportTimeoutMillis, exportIntervalMillis),
      })
    ),
  });

  const loggerProvider = new LoggerProvider({
    resource,
    logRecordLimits: limits,
    processors: config.logs.exporters.map((name): LogRecordProcessor =>
      name === 'otlp' && config.logs.otlp.protocol === 'http/protobuf'
        ? createOtlpProtobufLogRecordProcessor(config.logs.otlp, config.logs.batch, otlp)
        : new BatchLogRecordProcessor({
          exporter: name === 'otlp' ? createOtlpLogExporter(config.logs.otlp, otlp) : createConsoleLogExporter(print),
          ...config.logs.batch,
        })
    ),
  });

  health.observe(meterProvider);

  const registered: GlobalSlot[] = [];
  if (registerGlobals) {
    if (propagation.setGlobalPropagator(propagator)) registered.push('propagation');
    if (trace.setGlobalTracerProvider(tracerProvider)) registered.push('trace');
    if (metrics.setGlobalMeterProvider(meterProvider)) registered.push('metrics');
    if (logs.setGlobalLoggerProvider(loggerProvider)) registered.push('logs');
  }
  // What this setup registered, to take out of the globals at shutdown if still there.
  const ours: Record<GlobalSlot, unknown> = {
    propagation: propagator,
    trace: registeredGlobal('trace'),
    metrics: meterProvider,
    logs: loggerProvider,
  };
  const unregister = () => {
    for (const slot of registered) {
      if (registeredGlobal(slot) !== ours[slot]) continue;
      if (slot === 'trace') trace.disable();
      else if (slot === 'metrics') metrics.disable();
      else if (slot === 'logs') logs.disable();
      else propagation.disable();
    }
  };

  const providers = [sdkTracerProvider, meterProvider, loggerProvider];
  // The exporters give up on what they hold within the shutdown flush time; this is the net
  // under that, for a shutdown that hangs elsewhere.
  const shutdownDeadlineMillis = Math.min(config.delivery.shutdownFlushMillis + 2_000, 2_147_483_647);
  let shuttingDown: Promise<void> | undefined;
  return {
    enabled: true,
    tracerProvider,
    meterProvider,
    loggerProvider,
    propagator,
    forceFlush: () => settleAll(providers.map((p) => p.forceFlush()), 'Cannot flush telemetry'),
    shutdown: () => {
      // One clock for every flush the providers run on the way down.
      budget.beginShutdown(config.delivery.shutdownFlushMillis);
      return (shuttingDown ??= withDeadline(
        settleShutdown(providers.map((p) => p.shutdown()), health),
        shutdownDeadlineMillis,
      ).finally(unregister));
    },
  };
}

/** Rejects when `promise` has not settled after `millis` (0: no deadline). */
async function withDeadline(promise: Promise<void>, millis: number): Promise<void> {
  if (millis === 0) return promise;
  if (!(await settlesWithin(promise, millis))) {
    throw new Error(`telemetry did not shut down within ${millis} ms; what it held is lost, uncounted`);
  }
}

/** Waits for every promise, then rejects with all their errors joined, if any. */
async function settleAll(promises: Promise<unknown>[], message: string): Promise<void> {
  const errors = (await Promise.allSettled(promises))
    .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    .map((r) => r.reason);
  if (errors.length > 0) throw new AggregateError(errors, message);
}

/** The W3C propagators of core, made exact where they are not (see propagation.ts). */
function createPropagator(names: ResolvedConfig['propagators']): TextMapPropagator {
  return createW3CPropagator(names);
}

function createSampler({ name, ratio }: SamplerConfig): Sampler {
  switch (name) {
    case 'always_on':
      return new AlwaysOnSampler();
    case 'always_off':
      return new AlwaysOffSampler();
    case 'traceidratio':
      return new TraceIdRatioBasedSampler(ratio);
    case 'parentbased_always_on':
      return new ParentBasedSampler({ root: new AlwaysOnSampler() });
    case 'parentbased_always_off':
      return new ParentBasedSampler({ root: new AlwaysOffSampler() });
    case 'parentbased_traceidratio':
      return new ParentBasedSampler({ root: new TraceIdRatioBasedSampler(ratio) });
  }
}

/** Installs `logger` as the API's global diag logger at `level`. */
function setDiagLogger(logger: DiagLogger, level: LogLevel): void {
  diag.setLogger(logger, { logLevel: DIAG_LEVELS[level] ?? DiagLogLevel.INFO, suppressOverrideMessage: true });
}
