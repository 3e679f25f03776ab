import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type Attributes, diag } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { OtlpExporterConfig } from '../../../src/config.ts';
import { createOtlpProtobufSpanProcessor } from '../../../src/otlp/encoding-batch-processor.ts';
import { createOtlpSpanExporter } from '../../../src/otlp/exporters.ts';
import { createOtlpHealth, SELF_METRICS_SCOPE } from '../../../src/otlp/self-metrics.ts';
import { type OtlpReceiver, startOtlpReceiver } from '../../_otlp-receiver.ts';

class CollectingReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

/** The points of each self-metric: `{ name: [{ attributes, value }] }`, with its unit and kind. */
async function collect(reader: CollectingReader) {
  const { resourceMetrics } = await reader.collect();
  return pointsOf(resourceMetrics);
}

function pointsOf(resourceMetrics: ResourceMetrics) {
  const metrics: Record<
    string,
    { unit: string; monotonic?: boolean; points: { attributes: Attributes; value: number }[] }
  > = {};
  for (const scope of resourceMetrics.scopeMetrics) {
    if (scope.scope.name !== SELF_METRICS_SCOPE) continue;
    for (const metric of scope.metrics) {
      metrics[metric.descriptor.name] = {
        unit: metric.descriptor.unit,
        monotonic: (metric as { isMonotonic?: boolean }).isMonotonic,
        points: metric.dataPoints.map((p) => ({ attributes: p.attributes, value: p.value as number })),
      };
    }
  }
  return metrics;
}

function spans(count: number): ReadableSpan[] {
  const exporter = new InMemorySpanExporter();
  const tracer = new TracerProvider({
    resource: resourceFromAttributes({ 'service.name': 'test' }),
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  }).getTracer('test');
  for (let i = 0; i < count; i++) tracer.startSpan(`span ${i}`).end();
  return exporter.getFinishedSpans();
}

function config(receiver: OtlpReceiver, timeoutMillis = 2000): OtlpExporterConfig {
  return {
    url: `${receiver.url}/v1/traces`,
    protocol: 'http/protobuf',
    headers: {},
    timeoutMillis,
    compression: 'none',
  };
}

/** ExportTraceServiceResponse { partial_success { rejected_spans = 1 } }, by hand. */
function partialSuccess(rejected: number): Uint8Array {
  return new Uint8Array([0x0a, 2, 0x08, rejected]);
}

test('createOtlpHealth() reports the exporter as otel.sdk.exporter.span.* with the semantic conventions, failures by error.type', async () => {
  const receiver = await startOtlpReceiver();
  diag.disable();
  try {
    const health = createOtlpHealth();
    const exporter = createOtlpSpanExporter(config(receiver), {
      health,
      reportLoss: () => {},
      shutdownTimeoutMillis: 50,
    });
    const reader = new CollectingReader();
    health.observe(new MeterProvider({ readers: [reader] }));
    const port = Number(new URL(receiver.url).port);
    const base = {
      'otel.component.type': 'otlp_http_span_exporter',
      'otel.component.name': 'otlp_http_span_exporter/0',
      'server.address': '127.0.0.1',
      'server.port': port,
    };

    receiver.respond(() => ({
      status: 200,
      headers: { 'content-type': 'application/x-protobuf' },
      body: partialSuccess(1),
    }));
    exporter.export(spans(3), () => {});
    await exporter.forceFlush!();
    receiver.respond(() => ({ status: 400 }));
    exporter.export(spans(2), () => {});
    await exporter.forceFlush!();
    receiver.respond(() => 'hang');
    exporter.export(spans(4), () => {});
    await receiver.waitFor((r) => r.requests.length === 3);

    const metrics = await collect(reader);
    assert.deepEqual(metrics['otel.sdk.exporter.span.exported'], {
      unit: '{span}',
      monotonic: true,
      points: [
        { attributes: base, value: 2 },
        { attributes: { ...base, 'error.type': 'rejected' }, value: 1 },
        { attributes: { ...base, 'error.type': '400' }, value: 2 },
      ],
    });
    assert.deepEqual(metrics['otel.sdk.exporter.span.inflight'], {
      unit: '{span}',
      monotonic: false,
      points: [{ attributes: base, value: 4 }],
    });
    await exporter.shutdown().catch(() => {});
  } finally {
    await receiver.close();
  }
});

test('createOtlpHealth() reports the batch processor as otel.sdk.processor.span.*: queue size, capacity, processed, queue_full', async () => {
  const receiver = await startOtlpReceiver();
  diag.disable();
  try {
    const health = createOtlpHealth();
    const processor = createOtlpProtobufSpanProcessor(
      config(receiver),
      { scheduledDelayMillis: 60_000, exportTimeoutMillis: 30_000, maxQueueSize: 4, maxExportBatchSize: 2 },
      { health, reportLoss: () => {} },
    );
    const reader = new CollectingReader();
    health.observe(new MeterProvider({ readers: [reader] }));
    const tracer = new TracerProvider({ spanProcessors: [processor] }).getTracer('test');
    // In one task: 2 handed to the exporter, 4 queued, 3 dropped.
    for (let i = 0; i < 9; i++) tracer.startSpan(`span ${i}`).end();
    const processorAttributes = {
      'otel.component.type': 'batching_span_processor',
      'otel.component.name': 'batching_span_processor/0',
    };
    let metrics = await collect(reader);
    assert.deepEqual(metrics['otel.sdk.processor.span.queue.capacity']?.points, [
      { attributes: processorAttributes, value: 4 },
    ]);
    assert.deepEqual(metrics['otel.sdk.processor.span.queue.size']?.points, [
      { attributes: processorAttributes, value: 4 },
    ]);
    await processor.forceFlush();
    metrics = await collect(reader);
    assert.deepEqual(metrics['otel.sdk.processor.span.queue.size']?.points, [
      { attributes: processorAttributes, value: 0 },
    ]);
    assert.deepEqual(metrics['otel.sdk.processor.span.processed'], {
      unit: '{span}',
      monotonic: true,
      points: [
        { attributes: processorAttributes, value: 6 },
        { attributes: { ...processorAttributes, 'error.type': 'queue_full' }, value: 3 },
      ],
    });
    assert.equal(metrics['otel.sdk.exporter.span.exported']?.points[0]?.value, 6);
    assert.equal(health.lost('traces'), 3);
    assert.equal(health.lost('logs'), 0);
    await processor.shutdown();
  } finally {
    await receiver.close();
  }
});
