import {
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
import type { ResolvedConfig, SamplerConfig } from '../config.ts';
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
import { setDiagLogger } from './diag.ts';
import { settlesWithin } from '../deadline.ts';
import { consoleOutput, type Output, type RuntimeInfo } from '../runtime.ts';

/** The providers and propagator the service's instrumentation uses, and their lifecycle. */
export interface Telemetry {
  /** False under `OTEL_SDK_DISABLED=true`: the providers are the API's no-ops. */
  readonly enabled: boolean;
  readonly tracerProvider: ApiTracerProvider;
  readonly meterProvider: ApiMeterProvider;
  readonly loggerProvider: ApiLoggerProvider;
  readonly propagator: TextMapPropagator;
  /** Exports everything buffered so far, on every signal. */
  forceFlush(): Promise<void>;
  /**
   * Flushes and stops every signal. Idempotent: later calls return the first call's
   * promise. Rejects with one error counting, per signal, what could not be delivered, or
   * with an `AggregateError` holding every signal's error.
   */
  shutdown(): Promise<void>;
}

export interface SetupTelemetryOptions {
  config: ResolvedConfig;
  runtime: RuntimeInfo;
  /** Where console exporters and diagnostics write. @default consoleOutput */
  output?: Output;
  /** Also install the providers as the `@opentelemetry/api` globals. @default true */
  registerGlobals?: boolean;
  /**
   * Hand OTLP request bodies to fetch as a one-chunk stream with their length: Node's fetch
   * copies a byte body twice, a stream it does not. Its adapter says so. @default false
   */
  streamRequestBodies?: boolean;
}

/**
 * Builds the tracer, meter and logger providers from a resolved configuration, like the
 * seed's `setupOTelSDK`: W3C propagators, batch span and log processors, a periodic
 * metric reader, and one `shutdown()` for all of them.
 */
export function setupTelemetry(options: SetupTelemetryOptions): Telemetry {
  const { config, runtime, output = consoleOutput, registerGlobals = true } = options;
  setDiagLogger(config.logLevel, output);
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
            : createConsoleSpanExporter(output.stdout),
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
          : createConsoleMetricExporter(output.stdout),
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
          exporter: name === 'otlp'
            ? createOtlpLogExporter(config.logs.otlp, otlp)
            : createConsoleLogExporter(output.stdout),
          ...config.logs.batch,
        })
    ),
  });

  health.observe(meterProvider);

  if (registerGlobals) {
    propagation.setGlobalPropagator(propagator);
    trace.setGlobalTracerProvider(tracerProvider);
    metrics.setGlobalMeterProvider(meterProvider);
    logs.setGlobalLoggerProvider(loggerProvider);
  }

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
      ));
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
