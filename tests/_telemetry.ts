/**
 * In-memory telemetry for unit tests: real SDK providers whose exporters keep everything, and
 * the library's own propagator.
 */
import { type Attributes, ROOT_CONTEXT, type TextMapGetter } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import {
  AggregationTemporality,
  type DataPoint,
  InMemoryMetricExporter,
  MeterProvider,
  type MetricData,
  PeriodicExportingMetricReader,
} from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { createW3CPropagator, type Telemetry, tracerProviderWithRandomFlag } from '../mod.ts';
import { registerContextManager } from '../src/sdk/context.ts';

export interface TestTelemetry extends Telemetry {
  spans(): ReadableSpan[];
  span(name: string): ReadableSpan;
  logs: InMemoryLogRecordExporter;
  /** Collects the metrics now and returns the one named. */
  metric(name: string): Promise<MetricData | undefined>;
}

export function createTestTelemetry(): TestTelemetry {
  registerContextManager();
  const resource = resourceFromAttributes({ 'service.name': 'test' });
  const spanExporter = new InMemorySpanExporter();
  const logExporter = new InMemoryLogRecordExporter();
  const metricExporter = new InMemoryMetricExporter(AggregationTemporality.CUMULATIVE);
  const reader = new PeriodicExportingMetricReader({ exporter: metricExporter, exportIntervalMillis: 3_600_000 });
  const sdkTracerProvider = new TracerProvider({
    resource,
    spanProcessors: [new SimpleSpanProcessor({ exporter: spanExporter })],
  });
  const meterProvider = new MeterProvider({ resource, readers: [reader] });
  const loggerProvider = new LoggerProvider({
    resource,
    processors: [new SimpleLogRecordProcessor({ exporter: logExporter })],
  });
  return {
    enabled: true,
    // As setupTelemetry() does: tracers that keep W3C Level 2's random flag.
    tracerProvider: tracerProviderWithRandomFlag(sdkTracerProvider),
    meterProvider,
    loggerProvider,
    // The library's own W3C propagator, as setupTelemetry() installs it.
    propagator: createW3CPropagator(),
    forceFlush: () => Promise.resolve(),
    shutdown: async () => {
      await Promise.all([sdkTracerProvider.shutdown(), meterProvider.shutdown(), loggerProvider.shutdown()]);
    },
    spans: () => spanExporter.getFinishedSpans(),
    span(name) {
      const found = spanExporter.getFinishedSpans().filter((s) => s.name === name);
      if (found.length !== 1) throw new Error(`Expected one span named "${name}", found ${found.length}`);
      return found[0]!;
    },
    logs: logExporter,
    async metric(name) {
      const { resourceMetrics } = await reader.collect();
      return resourceMetrics.scopeMetrics.flatMap((s) => s.metrics).find((m) => m.descriptor.name === name);
    },
  };
}

/** The points of a metric, with their attributes, for easy assertions. */
export function points(metric: MetricData | undefined): DataPoint<unknown>[] {
  return (metric?.dataPoints ?? []) as DataPoint<unknown>[];
}

export function sumBy(metric: MetricData | undefined, key: string): Map<unknown, number> {
  const sums = new Map<unknown, number>();
  for (const p of points(metric)) {
    const attributes = p.attributes as Attributes;
    sums.set(attributes[key], (sums.get(attributes[key]) ?? 0) + (p.value as number));
  }
  return sums;
}

export const mapGetter: TextMapGetter<Record<string, string>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

export { ROOT_CONTEXT };
