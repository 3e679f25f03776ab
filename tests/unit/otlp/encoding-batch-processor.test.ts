import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diag, DiagLogLevel, SeverityNumber, TraceFlags } from '@opentelemetry/api';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { LoggerProvider } from '@opentelemetry/sdk-logs';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import {
  AlwaysOffSampler,
  InMemorySpanExporter,
  type ReadableSpan,
  SimpleSpanProcessor,
  type SpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import type { BatchConfig, OtlpExporterConfig } from '../../../src/config.ts';
import {
  BatchEncoder,
  createOtlpProtobufLogRecordProcessor,
  createOtlpProtobufSpanProcessor,
} from '../../../src/otlp/encoding-batch-processor.ts';
import { encodeSpan } from '../../../src/otlp/protobuf-encoding.ts';
import { flattenSpans } from '../../_otlp-decode.ts';
import { type OtlpReceiver, startOtlpReceiver } from '../../_otlp-receiver.ts';

const resource = resourceFromAttributes({ 'service.name': 'rolldice-test' });
const FAST = { initialBackoffMillis: 20, maxBackoffMillis: 50, jitter: 0 };

function otlp(receiver: OtlpReceiver, signal: 'traces' | 'logs', timeoutMillis = 2000): OtlpExporterConfig {
  return {
    url: `${receiver.url}/v1/${signal}`,
    protocol: 'http/protobuf',
    headers: {},
    timeoutMillis,
    compression: 'none',
  };
}

function batch(overrides: Partial<BatchConfig> = {}): BatchConfig {
  return {
    scheduledDelayMillis: 60_000,
    exportTimeoutMillis: 30_000,
    maxQueueSize: 2048,
    maxExportBatchSize: 512,
    ...overrides,
  };
}

async function withReceiver(fn: (receiver: OtlpReceiver, warnings: string[]) => Promise<void>): Promise<void> {
  const receiver = await startOtlpReceiver();
  const warnings: string[] = [];
  const log = (message: string, ...args: unknown[]) => warnings.push([message, ...args].join(' '));
  diag.setLogger({ error: log, warn: log, info: () => {}, debug: () => {}, verbose: () => {} }, {
    logLevel: DiagLogLevel.WARN,
    suppressOverrideMessage: true,
  });
  try {
    await fn(receiver, warnings);
  } finally {
    diag.disable();
    await receiver.close();
  }
}

function tracerWith(processor: SpanProcessor, sampler?: AlwaysOffSampler) {
  return new TracerProvider({ resource, spanProcessors: [processor], ...(sampler ? { sampler } : {}) }).getTracer(
    'rolldice',
    '0.1.0',
  );
}

const spansPerRequest = (receiver: OtlpReceiver) =>
  receiver.requests.filter((r) => r.signal === 'traces').map((r) =>
    flattenSpans(r.document ? [r.document] : []).length
  );

test('createOtlpProtobufSpanProcessor() exports a batch as soon as it is full, and the rest on forceFlush', () =>
  withReceiver(async (receiver) => {
    const processor = createOtlpProtobufSpanProcessor(otlp(receiver, 'traces'), batch({ maxExportBatchSize: 3 }), FAST);
    const tracer = tracerWith(processor);
    for (let i = 0; i < 7; i++) tracer.startSpan(`span ${i}`).end();
    await receiver.waitFor((r) => r.spans().length >= 6);
    assert.deepEqual(spansPerRequest(receiver), [3, 3]);
    await processor.forceFlush();
    assert.deepEqual(spansPerRequest(receiver), [3, 3, 1]);
    assert.deepEqual(receiver.spans().map((s) => s.name), [0, 1, 2, 3, 4, 5, 6].map((i) => `span ${i}`));
    await processor.shutdown();
  }));

test('createOtlpProtobufSpanProcessor() exports a partial batch after the schedule delay', () =>
  withReceiver(async (receiver) => {
    const processor = createOtlpProtobufSpanProcessor(
      otlp(receiver, 'traces'),
      batch({ scheduledDelayMillis: 50 }),
      FAST,
    );
    tracerWith(processor).startSpan('alone').end();
    assert.equal(receiver.requests.length, 0);
    await receiver.waitFor((r) => r.spans().length === 1, 2000);
    await processor.shutdown();
  }));

test('createOtlpProtobufSpanProcessor() skips spans that are not sampled', () =>
  withReceiver(async (receiver) => {
    const processor = createOtlpProtobufSpanProcessor(otlp(receiver, 'traces'), batch(), FAST);
    tracerWith(processor, new AlwaysOffSampler()).startSpan('not recorded').end();
    // Recorded but not sampled (a RECORD_ONLY sampler): onEnd sees it, the processor must not export it.
    const exporter = new InMemorySpanExporter();
    const recorded = new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }).getTracer('t');
    recorded.startSpan('record only').end();
    const [span] = exporter.getFinishedSpans();
    const context = span!.spanContext();
    processor.onEnd(
      Object.create(span!, { spanContext: { value: () => ({ ...context, traceFlags: TraceFlags.NONE }) } }),
    );
    tracerWith(processor).startSpan('sampled').end();
    await processor.forceFlush();
    assert.deepEqual(receiver.spans().map((s) => s.name), ['sampled']);
    await processor.shutdown();
  }));

test('createOtlpProtobufSpanProcessor() drops what exceeds its queue in a burst, says why, and loses nothing else to a hung request', () =>
  withReceiver(async (receiver, warnings) => {
    receiver.respond((_req, attempt) => (attempt === 1 ? 'hang' : undefined));
    const processor = createOtlpProtobufSpanProcessor(
      otlp(receiver, 'traces', 300),
      batch({ maxQueueSize: 4, maxExportBatchSize: 2 }),
      { ...FAST, lossReportIntervalMillis: 60_000 },
    );
    const tracer = tracerWith(processor);
    // Within one task: 2 are handed to the exporter, 4 fill the queue, 3 are dropped.
    for (let i = 0; i < 9; i++) tracer.startSpan(`span ${i}`).end();
    await processor.forceFlush();
    await processor.shutdown();
    const received = receiver.spans().map((s) => s.name).sort();
    assert.deepEqual(received, ['span 0', 'span 1', 'span 2', 'span 3', 'span 4', 'span 5']);
    // The first loss is reported at once, the rest together at shutdown.
    assert.deepEqual(warnings.filter((w) => w.startsWith('Dropped')), [
      'Dropped 1 span: the queue of 4 spans waiting for export was full',
      'Dropped 2 spans: the queue of 4 spans waiting for export was full',
    ]);
  }));

test('createOtlpProtobufSpanProcessor() forceFlush() waits until the exporter has delivered what was queued', () =>
  withReceiver(async (receiver) => {
    // The first request is answered 503: it is sent again 400 ms later.
    receiver.respond((_req, attempt) => (attempt === 1 ? { status: 503 } : undefined));
    const processor = createOtlpProtobufSpanProcessor(
      otlp(receiver, 'traces'),
      batch({ maxExportBatchSize: 1 }),
      { ...FAST, initialBackoffMillis: 400, maxBackoffMillis: 400 },
    );
    const tracer = tracerWith(processor);
    tracer.startSpan('first').end();
    tracer.startSpan('second').end();
    await processor.forceFlush();
    assert.deepEqual(receiver.spans().map((s) => s.name).sort(), ['first', 'second']);
    await processor.shutdown();
  }));

test('createOtlpProtobufSpanProcessor() moves on past its export timeout', () =>
  withReceiver(async (receiver) => {
    receiver.respond((_req, attempt) => (attempt === 1 ? 'hang' : undefined));
    const processor = createOtlpProtobufSpanProcessor(
      otlp(receiver, 'traces', 5000),
      batch({ maxExportBatchSize: 1, exportTimeoutMillis: 100 }),
      FAST,
    );
    const tracer = tracerWith(processor);
    tracer.startSpan('first').end();
    tracer.startSpan('second').end();
    // The second batch goes after 100 ms, while the first one still hangs.
    await receiver.waitFor((r) => r.spans().some((s) => s.name === 'second'), 2000);
    await processor.shutdown();
  }));

test('createOtlpProtobufSpanProcessor() shutdown() flushes, then ignores spans that end later', () =>
  withReceiver(async (receiver) => {
    const processor = createOtlpProtobufSpanProcessor(otlp(receiver, 'traces'), batch(), FAST);
    const tracer = tracerWith(processor);
    tracer.startSpan('before').end();
    const late = tracer.startSpan('late');
    await processor.shutdown();
    late.end();
    await processor.shutdown();
    assert.deepEqual(receiver.spans().map((s) => s.name), ['before']);
    assert.equal(receiver.requests.length, 1);
  }));

test('createOtlpProtobufLogRecordProcessor() exports log records as the official exporter would', () =>
  withReceiver(async (receiver) => {
    const processor = createOtlpProtobufLogRecordProcessor(
      otlp(receiver, 'logs'),
      batch({ maxExportBatchSize: 2 }),
      FAST,
    );
    const logger = new LoggerProvider({ resource, processors: [processor] }).getLogger('rolldice', '0.1.0');
    logger.emit({ body: 'Alice is rolling the dice', severityNumber: SeverityNumber.INFO, attributes: { result: 4 } });
    logger.emit({
      body: 'Anonymous player is rolling the dice',
      severityNumber: SeverityNumber.INFO,
      attributes: { result: 2 },
    });
    logger.emit({ body: { structured: true }, eventName: 'dice.rolled' });
    await processor.forceFlush();
    const records = receiver.logRecords();
    assert.deepEqual(records.map((r) => r.bodyValue), [
      'Alice is rolling the dice',
      'Anonymous player is rolling the dice',
      { structured: true },
    ]);
    assert.deepEqual(records.map((r) => r.attributesObject.result), [4, 2, undefined]);
    assert.equal(records[0].scope.name, 'rolldice');
    assert.equal(receiver.requests.length, 2);
    await processor.shutdown();
  }));

test('createOtlpProtobufSpanProcessor() reports a span it cannot encode and sends the others', () =>
  withReceiver(async (receiver, warnings) => {
    const processor = createOtlpProtobufSpanProcessor(otlp(receiver, 'traces'), batch(), FAST);
    const exporter = new InMemorySpanExporter();
    new TracerProvider({ spanProcessors: [new SimpleSpanProcessor({ exporter })] }).getTracer('t').startSpan('broken')
      .end();
    const [span] = exporter.getFinishedSpans();
    const sampled = span!.spanContext();
    // Sampled when the processor looks, unreadable when it encodes.
    let reads = 0;
    processor.onEnd(Object.create(span!, {
      spanContext: {
        value: () => (reads++ === 0 ? sampled : (() => {
          throw new Error('no context');
        })()),
      },
    }));
    tracerWith(processor).startSpan('fine').end();
    await processor.shutdown();
    assert.deepEqual(receiver.spans().map((s) => s.name), ['fine']);
    assert.deepEqual(warnings.filter((w) => w.startsWith('Dropped')), [
      'Dropped 1 span: it could not be encoded: no context',
    ]);
  }));

test('BatchEncoder leaves the batch as it was when an item cannot be encoded', () => {
  const exporter = new InMemorySpanExporter();
  const tracer = new TracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor({ exporter })] }).getTracer(
    't',
  );
  tracer.startSpan('first').end();
  tracer.startSpan('second').end();
  const [first, second] = exporter.getFinishedSpans();
  const encoder = new BatchEncoder(encodeSpan);
  encoder.add(first!);
  const broken = Object.create(second!, {
    spanContext: {
      value: () => {
        throw new Error('no context');
      },
    },
  }) as ReadableSpan;
  assert.throws(() => encoder.add(broken), /no context/);
  assert.equal(encoder.count, 1);
  assert.deepEqual(encoder.seal().bytes, ProtobufTraceSerializer.serializeRequest([first!]));
});

test('createOtlpProtobufSpanProcessor() exports a partial batch once the schedule delay has passed, not before', () =>
  withReceiver(async (receiver) => {
    const delayMillis = 300;
    const processor = createOtlpProtobufSpanProcessor(
      otlp(receiver, 'traces'),
      batch({ scheduledDelayMillis: delayMillis }),
      FAST,
    );
    const ended = Date.now();
    tracerWith(processor).startSpan('alone').end();
    // No forceFlush(): only the schedule delay's timer sends it.
    await receiver.waitFor((r) => r.spans().length === 1, 5000);
    const waited = receiver.requests[0]!.receivedAt - ended;
    // A timer may fire a few milliseconds early; without the delay the span would go at once.
    assert.ok(waited >= delayMillis - 20, `exported ${waited} ms after the span ended`);
    await processor.shutdown();
  }));
