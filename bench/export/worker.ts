/**
 * The export path alone, on whichever runtime runs this file (node, deno or bun): encodes and
 * sends ITEMS spans, log records and metric data points (10 000 of each by default) through
 * the project's OTLP exporters to the sink, in protobuf and JSON, with and without gzip.
 *
 *   <runtime> bench/export/worker.ts http://127.0.0.1:SINKPORT [ITEMS, default 10000]
 *
 * Prints one line `##export {json}`. Started by bench/export/bench.ts (`npm run bench -- --export`).
 */
import { type Attributes, context, SeverityNumber, SpanKind, trace, TraceFlags } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  InMemoryLogRecordExporter,
  LoggerProvider,
  type ReadableLogRecord,
  SimpleLogRecordProcessor,
} from '@opentelemetry/sdk-logs';
import { MeterProvider, MetricReader, type ResourceMetrics } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import process from 'node:process';
import {
  createOtlpLogExporter,
  createOtlpMetricExporter,
  createOtlpSpanExporter,
  type OtlpExporterConfig,
  type OtlpProtocol,
} from '../../mod.ts';
import type { SinkCounts } from '../lib/sink.ts';

/** Items per signal: spans, log records, metric points; a multiple of POINTS_PER_METRIC. */
const ITEMS = Number(process.argv[3] ?? 10_000);
/** The batch processors' default OTEL_BSP_MAX_EXPORT_BATCH_SIZE / OTEL_BLRP_MAX_EXPORT_BATCH_SIZE. */
const BATCH_SIZE = 512;
/** Metric points per request: one metric of 1 000 attribute sets, under the SDK's cardinality limit. */
const POINTS_PER_METRIC = 1_000;
const REPETITIONS = 3;

type Signal = 'traces' | 'logs' | 'metrics';

export interface ExportCase {
  signal: Signal;
  protocol: OtlpProtocol;
  compression: 'none' | 'gzip';
  items: number;
  requests: number;
  /** Wall-clock ms for all items, one per repetition. */
  millis: number[];
  /** Per repetition, as the sink counted them. */
  wireBytes: number;
  rawBytes: number;
  received: number;
}

const resource = resourceFromAttributes({
  'service.name': 'rolldice',
  'service.version': '0.1.0',
  'telemetry.sdk.language': 'nodejs',
  'telemetry.sdk.name': 'opentelemetry',
});

function chunk<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Spans shaped like the service's: a SERVER span with the HTTP attributes, and its `roll`. */
function makeSpans(): ReadableSpan[] {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const server = provider.getTracer('rolldice/http-server', '0.1.0');
  const dice = provider.getTracer('rolldice', '0.1.0');
  for (let i = 0; i < ITEMS / 2; i++) {
    const span = server.startSpan('GET /rolldice/{player}', {
      kind: SpanKind.SERVER,
      attributes: {
        'http.request.method': 'GET',
        'url.path': `/rolldice/player${i % 100}`,
        'url.scheme': 'http',
        'http.route': '/rolldice/{player}',
        'server.address': '127.0.0.1',
        'server.port': 8080,
        'user_agent.original': 'wrk/4.1.0',
        'client.address': '127.0.0.1',
        'network.peer.address': '127.0.0.1',
        'network.peer.port': 40000 + (i % 1000),
        'network.protocol.version': '1.1',
      },
    });
    const roll = dice.startSpan(
      'roll',
      { attributes: { 'roll.value': (i % 6) + 1 } },
      trace.setSpan(context.active(), span),
    );
    roll.end();
    span.setAttribute('http.response.status_code', 200);
    span.end();
  }
  return exporter.getFinishedSpans();
}

/** "Alice is rolling the dice", INFO, `result`, with the ids of a sampled span. */
function makeLogs(): ReadableLogRecord[] {
  const exporter = new InMemoryLogRecordExporter();
  const provider = new LoggerProvider({ resource, processors: [new SimpleLogRecordProcessor({ exporter })] });
  const logger = provider.getLogger('rolldice', '0.1.0');
  for (let i = 0; i < ITEMS; i++) {
    const hex = (i + 1).toString(16);
    const spanContext = {
      traceId: hex.padStart(32, '0'),
      spanId: hex.padStart(16, '0'),
      traceFlags: TraceFlags.SAMPLED,
    };
    logger.emit({
      body: `player${i % 100} is rolling the dice`,
      severityNumber: SeverityNumber.INFO,
      severityText: 'INFO',
      attributes: { result: (i % 6) + 1 },
      context: trace.setSpanContext(context.active(), spanContext),
    });
  }
  return exporter.getFinishedLogRecords();
}

/** A reader that only collects on demand: the benchmark exports what it collects itself. */
class OnDemandReader extends MetricReader {
  protected override onForceFlush(): Promise<void> {
    return Promise.resolve();
  }
  protected override onShutdown(): Promise<void> {
    return Promise.resolve();
  }
}

/**
 * Ten metrics of 1 000 points each (five counters like dice.rolls, five histograms like
 * http.server.request.duration), one per export request, as a metric reader would send.
 */
async function makeMetrics(): Promise<ResourceMetrics[]> {
  const reader = new OnDemandReader();
  const provider = new MeterProvider({ resource, readers: [reader] });
  const meter = provider.getMeter('rolldice', '0.1.0');
  const metrics = ITEMS / POINTS_PER_METRIC;
  for (let m = 0; m < metrics; m++) {
    const attributes = (i: number): Attributes => ({ 'roll.value': (i % 6) + 1, player: `player${i}` });
    if (m % 2 === 0) {
      const counter = meter.createCounter(`dice.rolls.${m}`, {
        unit: '{roll}',
        description: 'The number of rolls by roll value',
      });
      for (let i = 0; i < POINTS_PER_METRIC; i++) counter.add(1 + (i % 3), attributes(i));
    } else {
      const histogram = meter.createHistogram(`http.server.request.duration.${m}`, { unit: 's' });
      for (let i = 0; i < POINTS_PER_METRIC; i++) histogram.record(0.0001 * (1 + (i % 50)), attributes(i));
    }
  }
  const { resourceMetrics, errors } = await reader.collect();
  if (errors.length > 0) throw new AggregateError(errors, 'cannot collect the metrics');
  await provider.shutdown();
  return resourceMetrics.scopeMetrics.flatMap((scope) =>
    scope.metrics.map((metric) => ({
      resource: resourceMetrics.resource,
      scopeMetrics: [{ scope: scope.scope, metrics: [metric] }],
    }))
  );
}

interface Exporter<T> {
  export(items: T, done: (result: ExportResult) => void): void;
  shutdown(): Promise<void>;
}

function exportOnce<T>(exporter: Exporter<T>, batch: T): Promise<void> {
  return new Promise((resolve, reject) =>
    exporter.export(batch, (result) => {
      if (result.code === ExportResultCode.SUCCESS) resolve();
      else reject(result.error ?? new Error('the export failed'));
    })
  );
}

async function sinkCounts(sink: string): Promise<SinkCounts> {
  return (await (await fetch(`${sink}/counts`)).json()) as SinkCounts;
}

/** Sends every batch, one export at a time (as a batch processor does), REPETITIONS times. */
async function runCase<T>(
  sink: string,
  signal: Signal,
  protocol: OtlpProtocol,
  compression: 'none' | 'gzip',
  create: (config: OtlpExporterConfig) => Exporter<T>,
  batches: T[],
  items: number,
): Promise<ExportCase> {
  const exporter = create({ url: `${sink}/v1/${signal}`, protocol, headers: {}, timeoutMillis: 10_000, compression });
  try {
    // Warm-up: the serializer's JIT, the connection, the zlib stream set-up.
    for (const batch of batches.slice(0, 3)) await exportOnce(exporter, batch);
    const millis: number[] = [];
    let before = await sinkCounts(sink);
    let after = before;
    for (let rep = 0; rep < REPETITIONS; rep++) {
      before = await sinkCounts(sink);
      const started = performance.now();
      for (const batch of batches) await exportOnce(exporter, batch);
      millis.push(performance.now() - started);
      after = await sinkCounts(sink);
    }
    const [b, a] = [before[signal], after[signal]];
    return {
      signal,
      protocol,
      compression,
      items,
      requests: batches.length,
      millis,
      wireBytes: a.wireBytes - b.wireBytes,
      rawBytes: a.rawBytes - b.rawBytes,
      received: a.items - b.items,
    };
  } finally {
    await exporter.shutdown();
  }
}

async function main(): Promise<void> {
  const sink = process.argv[2];
  if (!sink) throw new Error('usage: bench/export/worker.ts http://127.0.0.1:SINKPORT');
  const spans = chunk(makeSpans(), BATCH_SIZE);
  const logs = chunk(makeLogs(), BATCH_SIZE);
  const metrics = await makeMetrics();
  const points = metrics.reduce((n, rm) => n + rm.scopeMetrics[0]!.metrics[0]!.dataPoints.length, 0);

  const cases: ExportCase[] = [];
  for (const protocol of ['http/protobuf', 'http/json'] as const) {
    for (const compression of ['none', 'gzip'] as const) {
      cases.push(await runCase(sink, 'traces', protocol, compression, (c) => createOtlpSpanExporter(c), spans, ITEMS));
      cases.push(await runCase(sink, 'logs', protocol, compression, (c) => createOtlpLogExporter(c), logs, ITEMS));
      cases.push(
        await runCase(
          sink,
          'metrics',
          protocol,
          compression,
          (c) => createOtlpMetricExporter(c, 'cumulative'),
          metrics,
          points,
        ),
      );
    }
  }
  process.stdout.write(`##export ${JSON.stringify({ cases })}\n`);
}

main().then(
  () => process.exit(0),
  (error) => {
    console.error(`bench/export/worker.ts: ${(error as Error).stack ?? error}`);
    process.exit(1);
  },
);
