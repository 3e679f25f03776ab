import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { test } from 'node:test';
import { diag, DiagLogLevel, ROOT_CONTEXT, SeverityNumber, SpanKind, trace } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import {
  JsonLogsSerializer,
  JsonMetricsSerializer,
  JsonTraceSerializer,
  ProtobufLogsSerializer,
  ProtobufMetricsSerializer,
  ProtobufTraceSerializer,
} from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  InMemoryLogRecordExporter,
  LoggerProvider,
  type ReadableLogRecord,
  SimpleLogRecordProcessor,
} from '@opentelemetry/sdk-logs';
import {
  AggregationTemporality,
  InstrumentType,
  MeterProvider,
  MetricReader,
  PeriodicExportingMetricReader,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { OtlpExporterConfig, OtlpProtocol } from '../../../src/config.ts';
import {
  createOtlpLogExporter,
  createOtlpMetricExporter,
  createOtlpSpanExporter,
  OTLP_TRANSFORMER_VERSION,
  OTLP_USER_AGENT,
  type OtlpExporterOptions,
} from '../../../src/otlp/exporters.ts';
import { createDeliveryBudget } from '../../../src/otlp/delivery.ts';
import { LostAtShutdownError } from '../../../src/otlp/shutdown-loss.ts';
import { VERSION } from '../../../src/version.ts';
import { decodeExportRequest, normalizeOtlpJson, type OtlpSignal } from '../../_otlp-decode.ts';
import { type OtlpReceiver, startOtlpReceiver } from '../../_otlp-receiver.ts';

const resource = resourceFromAttributes({ 'service.name': 'rolldice-test' });
/** Backoff for tests: quick, and without jitter so timings are predictable. */
const FAST: OtlpExporterOptions = { initialBackoffMillis: 20, maxBackoffMillis: 100, jitter: 0 };

function makeSpans(count = 2): ReadableSpan[] {
  const exporter = new InMemorySpanExporter();
  const tracer = new TracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor({ exporter })] })
    .getTracer('rolldice', '0.1.0');
  const parent = tracer.startSpan('GET /rolldice', {
    kind: SpanKind.SERVER,
    attributes: { 'http.route': '/rolldice' },
  });
  for (let i = 1; i < count; i++) {
    tracer.startSpan('roll', { attributes: { 'roll.value': i } }, trace.setSpan(ROOT_CONTEXT, parent)).end();
  }
  parent.end();
  return exporter.getFinishedSpans();
}

class CollectingReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

async function makeMetrics(): Promise<ResourceMetrics> {
  const reader = new CollectingReader();
  const meter = new MeterProvider({ resource, readers: [reader] }).getMeter('rolldice', '0.1.0');
  meter.createCounter('rolls').add(2, { 'roll.sides': 6 });
  meter.createHistogram('roll.value').record(4);
  meter.createUpDownCounter('rolls.active').add(1);
  return (await reader.collect()).resourceMetrics;
}

function makeLogRecords(): ReadableLogRecord[] {
  const exporter = new InMemoryLogRecordExporter();
  const logger = new LoggerProvider({ resource, processors: [new SimpleLogRecordProcessor({ exporter })] })
    .getLogger('rolldice', '0.1.0');
  logger.emit({ body: 'Rolled', severityNumber: SeverityNumber.INFO, attributes: { 'roll.value': 4 } });
  logger.emit({ body: { value: 5, tags: ['a'] }, eventName: 'dice.rolled' });
  return exporter.getFinishedLogRecords();
}

function config(
  receiver: { url: string },
  signal: OtlpSignal,
  overrides: Partial<OtlpExporterConfig> = {},
): OtlpExporterConfig {
  return {
    url: `${receiver.url}/v1/${signal}`,
    protocol: 'http/protobuf',
    headers: {},
    timeoutMillis: 2000,
    compression: 'none',
    ...overrides,
  };
}

interface Exporter<T> {
  export(items: T, done: (result: ExportResult) => void): void;
}

/** Exports `items`, then waits for the exporter to deliver them or give up (forceFlush). */
async function exportOnce<T>(
  exporter: Exporter<T> & { forceFlush?(): Promise<void> },
  items: T,
): Promise<ExportResult> {
  const result = await new Promise<ExportResult>((resolve) => exporter.export(items, resolve));
  await exporter.forceFlush?.();
  return result;
}

/** Records `diag` output at every level; `restore()` disables diag again. */
function captureDiag() {
  const messages: { level: string; text: string }[] = [];
  const log = (level: string) => (message: string, ...args: unknown[]) => {
    messages.push({ level, text: [message, ...args.map(String)].join(' ') });
  };
  diag.setLogger(
    { error: log('error'), warn: log('warn'), info: log('info'), debug: log('debug'), verbose: log('verbose') },
    { logLevel: DiagLogLevel.ALL, suppressOverrideMessage: true },
  );
  return {
    messages,
    /** Warnings and errors: what an operator would see. */
    problems: () => messages.filter((m) => m.level === 'warn' || m.level === 'error').map((m) => m.text),
    restore: () => diag.disable(),
  };
}

async function withReceiver(fn: (receiver: OtlpReceiver) => Promise<void>): Promise<void> {
  const receiver = await startOtlpReceiver();
  const captured = captureDiag();
  try {
    await fn(receiver);
  } finally {
    captured.restore();
    await receiver.close();
  }
}

/** A port with nothing listening on it: a receiver's, just closed. */
async function deadPort(): Promise<{ url: string; port: number }> {
  const receiver = await startOtlpReceiver();
  await receiver.close();
  return { url: receiver.url, port: Number(new URL(receiver.url).port) };
}

/** ExportTraceServiceResponse { partial_success { rejected_spans = 1, error_message = 2 } }, by hand. */
function protobufPartialSuccess(rejected: number, message: string): Uint8Array {
  const text = new TextEncoder().encode(message);
  const inner = [0x08, rejected, 0x12, text.length, ...text];
  return new Uint8Array([0x0a, inner.length, ...inner]);
}

const SIGNALS = {
  traces: {
    make: () => Promise.resolve(makeSpans()),
    exporter: (c: OtlpExporterConfig) => createOtlpSpanExporter(c, FAST),
    serializers: { protobuf: ProtobufTraceSerializer, json: JsonTraceSerializer },
  },
  metrics: {
    make: makeMetrics,
    exporter: (c: OtlpExporterConfig) => createOtlpMetricExporter(c, 'cumulative', FAST),
    serializers: { protobuf: ProtobufMetricsSerializer, json: JsonMetricsSerializer },
  },
  logs: {
    make: () => Promise.resolve(makeLogRecords()),
    exporter: (c: OtlpExporterConfig) => createOtlpLogExporter(c, FAST),
    serializers: { protobuf: ProtobufLogsSerializer, json: JsonLogsSerializer },
  },
} as const;

for (const [protocol, encoding] of [['http/protobuf', 'protobuf'], ['http/json', 'json']] as const) {
  for (const signal of ['traces', 'metrics', 'logs'] as const) {
    const factory =
      { traces: 'createOtlpSpanExporter', metrics: 'createOtlpMetricExporter', logs: 'createOtlpLogExporter' }[signal];
    test(`${factory}() sends ${protocol} that decodes to what the official serializer makes`, () =>
      withReceiver(async (receiver) => {
        const spec = SIGNALS[signal];
        // deno-lint-ignore no-explicit-any -- one loop over three signals whose item types differ
        const items: any = await spec.make();
        // deno-lint-ignore no-explicit-any -- as above
        const exporter: any = spec.exporter(config(receiver, signal, { protocol: protocol as OtlpProtocol }));
        const result = await exportOnce(exporter, items);
        assert.equal(result.code, ExportResultCode.SUCCESS, String(result.error));
        assert.equal(receiver.requests.length, 1);
        const [request] = receiver.requests;
        assert.equal(request!.error, undefined);
        assert.equal(request!.method, 'POST');
        assert.equal(request!.path, `/v1/${signal}`);
        assert.equal(request!.contentType, encoding === 'protobuf' ? 'application/x-protobuf' : 'application/json');
        assert.equal(request!.contentEncoding, undefined);
        // deno-lint-ignore no-explicit-any -- as above
        const official = (spec.serializers[encoding] as any).serializeRequest(items) as Uint8Array;
        assert.deepEqual(request!.body, official, 'the body is byte for byte the official request');
        const expected = encoding === 'protobuf'
          ? decodeExportRequest(signal, official)
          : normalizeOtlpJson(JSON.parse(new TextDecoder().decode(official)), signal);
        assert.deepEqual(request!.document, expected);
        await exporter.shutdown();
      }));
  }
}

test('createOtlpSpanExporter() gzips, sends the configured headers and a User-Agent', () =>
  withReceiver(async (receiver) => {
    const spans = makeSpans(3);
    const exporter = createOtlpSpanExporter(
      config(receiver, 'traces', {
        compression: 'gzip',
        headers: { authorization: 'Bearer 123', 'x-tenant': 'dice' },
      }),
      FAST,
    );
    assert.equal((await exportOnce(exporter, spans)).code, ExportResultCode.SUCCESS);
    const [request] = receiver.requests;
    assert.equal(request!.contentEncoding, 'gzip');
    assert.equal(request!.contentType, 'application/x-protobuf');
    assert.notDeepEqual(request!.rawBody, request!.body);
    assert.deepEqual(request!.body, ProtobufTraceSerializer.serializeRequest(spans));
    assert.equal(request!.headers['authorization'], 'Bearer 123');
    assert.equal(request!.headers['x-tenant'], 'dice');
    assert.equal(request!.headers['user-agent'], `rolldice-otel/${VERSION} (OTLP exporter; JavaScript)`);
    assert.equal(receiver.spans().length, 3);
    await exporter.shutdown();
  }));

test('OTLP_TRANSFORMER_VERSION names the installed otlp-transformer, and the User-Agent this package', () => {
  const url = new URL('../../../node_modules/@opentelemetry/otlp-transformer/package.json', import.meta.url);
  const installed = JSON.parse(readFileSync(url, 'utf8')).version;
  assert.equal(OTLP_TRANSFORMER_VERSION, installed);
  assert.match(OTLP_USER_AGENT, /^rolldice-otel\/\S+ \(OTLP exporter; JavaScript\)$/);
});

test('createOtlpSpanExporter() keeps a configured User-Agent in front of its own', () =>
  withReceiver(async (receiver) => {
    const exporter = createOtlpSpanExporter(config(receiver, 'traces', { headers: { 'User-Agent': 'acme/2' } }), FAST);
    await exportOnce(exporter, makeSpans(1));
    assert.equal(receiver.requests[0]!.headers['user-agent'], `acme/2 ${OTLP_USER_AGENT}`);
    await exporter.shutdown();
  }));

test('createOtlpSpanExporter() retries after 503 with Retry-After in seconds', () =>
  withReceiver(async (receiver) => {
    receiver.respond((_req, attempt) =>
      attempt === 1 ? { status: 503, headers: { 'retry-after': '1' }, body: 'busy' } : undefined
    );
    const exporter = createOtlpSpanExporter(config(receiver, 'traces', { timeoutMillis: 3000 }), FAST);
    const result = await exportOnce(exporter, makeSpans());
    assert.equal(result.code, ExportResultCode.SUCCESS, String(result.error));
    assert.equal(receiver.requests.length, 2);
    const [first, second] = receiver.requests;
    // Not the 20 ms backoff: the collector asked for a second.
    assert.ok(
      second!.receivedAt - first!.receivedAt >= 950,
      `retried after ${second!.receivedAt - first!.receivedAt} ms`,
    );
    assert.deepEqual(second!.body, first!.body);
    assert.equal(receiver.spans().length, 2);
    await exporter.shutdown();
  }));

test('createOtlpSpanExporter() retries after 503 with Retry-After as an HTTP date', () =>
  withReceiver(async (receiver) => {
    // HTTP dates have whole seconds: the next second but one, between 1 and 2 s from now.
    const retryAt = (Math.floor(Date.now() / 1000) + 2) * 1000;
    receiver.respond((_req, attempt) =>
      attempt === 1 ? { status: 503, headers: { 'retry-after': new Date(retryAt).toUTCString() } } : undefined
    );
    const exporter = createOtlpSpanExporter(config(receiver, 'traces', { timeoutMillis: 4000 }), FAST);
    const result = await exportOnce(exporter, makeSpans());
    assert.equal(result.code, ExportResultCode.SUCCESS, String(result.error));
    assert.equal(receiver.requests.length, 2);
    assert.ok(
      receiver.requests[1]!.receivedAt >= retryAt - 20,
      `retried ${retryAt - receiver.requests[1]!.receivedAt} ms early`,
    );
    await exporter.shutdown();
  }));

test('createOtlpSpanExporter() retries at once after Retry-After: 0', () =>
  withReceiver(async (receiver) => {
    receiver.respond((_req, attempt) => attempt === 1 ? { status: 429, headers: { 'retry-after': '0' } } : undefined);
    const exporter = createOtlpSpanExporter(config(receiver, 'traces'), { ...FAST, initialBackoffMillis: 5000 });
    const started = Date.now();
    assert.equal((await exportOnce(exporter, makeSpans())).code, ExportResultCode.SUCCESS);
    assert.equal(receiver.requests.length, 2);
    assert.ok(Date.now() - started < 1000);
    await exporter.shutdown();
  }));

for (const status of [429, 502, 503, 504]) {
  test(`createOtlpLogExporter() retries after ${status} with backoff`, () =>
    withReceiver(async (receiver) => {
      receiver.respond((_req, attempt) => attempt <= 2 ? { status } : undefined);
      const exporter = createOtlpLogExporter(config(receiver, 'logs'), FAST);
      const result = await exportOnce(exporter, makeLogRecords());
      assert.equal(result.code, ExportResultCode.SUCCESS, String(result.error));
      assert.equal(receiver.requests.length, 3);
      const [a, b, c] = receiver.requests.map((r) => r.receivedAt);
      // 20 ms, then 30 ms (x1.5); a timer may fire a little early on some runtimes.
      assert.ok(b! - a! >= 15 && c! - b! >= 25, `pauses ${b! - a!} and ${c! - b!} ms`);
      assert.equal(receiver.logRecords().length, 2);
      await exporter.shutdown();
    }));
}

test('createOtlpSpanExporter() does not retry 400 and says so once, naming status and endpoint', () =>
  withReceiver(async (receiver) => {
    const captured = captureDiag();
    receiver.respond(() => ({
      status: 400,
      headers: { 'content-type': 'application/x-protobuf' },
      // google.rpc.Status { code: 3, message: "span name is empty" }
      body: new Uint8Array([0x08, 0x03, 0x12, 18, ...new TextEncoder().encode('span name is empty')]),
    }));
    const exporter = createOtlpSpanExporter(config(receiver, 'traces'), FAST);
    await exportOnce(exporter, makeSpans(2));
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(receiver.requests.length, 1);
    const url = `${receiver.url}/v1/traces`;
    assert.deepEqual(captured.problems(), [
      `Dropped 2 spans: the collector at ${url} answered 400 Bad Request: span name is empty`,
    ]);
    await exporter.shutdown();
  }));

test('createOtlpMetricExporter() does not retry 401 or 500', () =>
  withReceiver(async (receiver) => {
    for (const status of [401, 500]) {
      receiver.respond(() => ({ status }));
      const exporter = createOtlpMetricExporter(
        config(receiver, 'metrics', { protocol: 'http/json' }),
        'cumulative',
        FAST,
      );
      const before = receiver.requests.length;
      await exportOnce(exporter, await makeMetrics());
      assert.equal(receiver.requests.length, before + 1);
      await exporter.shutdown();
    }
  }));

test('createOtlpSpanExporter() reports a partial success once and does not retry it', () =>
  withReceiver(async (receiver) => {
    const captured = captureDiag();
    const url = `${receiver.url}/v1/traces`;
    for (const protocol of ['http/protobuf', 'http/json'] as const) {
      receiver.respond(() =>
        protocol === 'http/json'
          ? {
            status: 200,
            headers: { 'content-type': 'application/json' },
            body: '{"partialSuccess":{"rejectedSpans":"1","errorMessage":"too old"}}',
          }
          : {
            status: 200,
            headers: { 'content-type': 'application/x-protobuf' },
            body: protobufPartialSuccess(1, 'too old'),
          }
      );
      const exporter = createOtlpSpanExporter(config(receiver, 'traces', { protocol }), FAST);
      const result = await exportOnce(exporter, makeSpans(3));
      assert.equal(result.code, ExportResultCode.SUCCESS);
      await exporter.shutdown();
    }
    assert.equal(receiver.requests.length, 2);
    assert.deepEqual(captured.problems(), [
      `Dropped 1 span: the collector at ${url} rejected them (partial success): too old`,
      `Dropped 1 span: the collector at ${url} rejected them (partial success): too old`,
    ]);
  }));

test('createOtlpLogExporter() passes on a partial success that only warns', () =>
  withReceiver(async (receiver) => {
    const captured = captureDiag();
    receiver.respond(() => ({
      status: 200,
      headers: { 'content-type': 'application/json' },
      body: '{"partialSuccess":{"errorMessage":"attribute limit near"}}',
    }));
    const exporter = createOtlpLogExporter(config(receiver, 'logs', { protocol: 'http/json' }), FAST);
    assert.equal((await exportOnce(exporter, makeLogRecords())).code, ExportResultCode.SUCCESS);
    assert.deepEqual(captured.problems(), [
      `The collector at ${receiver.url}/v1/logs accepted all log records with a warning: attribute limit near`,
    ]);
    await exporter.shutdown();
  }));

test('createOtlpSpanExporter() abandons a request that hangs after the export timeout and sends it again', () =>
  withReceiver(async (receiver) => {
    const captured = captureDiag();
    receiver.respond((_req, attempt) => (attempt === 1 ? 'hang' : undefined));
    const exporter = createOtlpSpanExporter(config(receiver, 'traces', { timeoutMillis: 500 }), FAST);
    const started = performance.now();
    exporter.export(makeSpans(2), () => {});
    await receiver.waitFor((r) => r.spans().length === 2, 3000);
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 450 && elapsed < 1500, `delivered after ${elapsed} ms`);
    assert.equal(receiver.requests.length, 2);
    assert.deepEqual(receiver.requests[1]!.body, receiver.requests[0]!.body);
    assert.deepEqual(captured.problems(), [], 'nothing lost, nothing to say');
    await exporter.shutdown();
  }));

test('createOtlpSpanExporter() holds spans for a collector that is down and counts them at shutdown', async () => {
  const captured = captureDiag();
  try {
    const dead = await deadPort();
    const exporter = createOtlpSpanExporter(config(dead, 'traces', { timeoutMillis: 600 }), {
      ...FAST,
      shutdownTimeoutMillis: 400,
    });
    assert.equal((await exportOnce(exporter, makeSpans(2))).code, ExportResultCode.SUCCESS, 'held, not failed');
    assert.deepEqual(captured.problems().filter((p) => p.startsWith('Dropped')), [], 'nothing dropped while held');
    const started = performance.now();
    await assert.rejects(exporter.shutdown(), (error: Error) => {
      assert.ok(error instanceof LostAtShutdownError);
      assert.equal(error.count, 2);
      assert.equal(error.signal, 'traces');
      assert.match(
        error.message,
        new RegExp(`^2 spans not delivered at shutdown: could not reach the collector at ${dead.url}/v1/traces: `),
      );
      return true;
    });
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 350 && elapsed < 900, `shutdown took ${elapsed} ms`);
  } finally {
    captured.restore();
  }
});

test('createOtlpSpanExporter() delivers the batch when the collector comes up within the deadline', async () => {
  const captured = captureDiag();
  const dead = await deadPort();
  let receiver: OtlpReceiver | undefined;
  try {
    const exporter = createOtlpSpanExporter(config(dead, 'traces', { timeoutMillis: 5000 }), FAST);
    exporter.export(makeSpans(3), () => {});
    await new Promise((resolve) => setTimeout(resolve, 300));
    receiver = await startOtlpReceiver({ port: dead.port });
    await receiver.waitFor((r) => r.spans().length === 3, 3000);
    assert.deepEqual(captured.problems().filter((p) => p.startsWith('Dropped')), []);
    await exporter.shutdown();
  } finally {
    captured.restore();
    await receiver?.close();
  }
});

test('createOtlpSpanExporter() retries when the collector drops the connection', () =>
  withReceiver(async (receiver) => {
    receiver.respond((_req, attempt) => attempt === 1 ? 'drop' : undefined);
    const exporter = createOtlpSpanExporter(config(receiver, 'traces'), FAST);
    assert.equal((await exportOnce(exporter, makeSpans(2))).code, ExportResultCode.SUCCESS);
    assert.equal(receiver.spans().length, 2);
    await exporter.shutdown();
  }));

test('createOtlpSpanExporter() and createOtlpLogExporter() share a bound and drop the oldest held of either, counted', async () => {
  const captured = captureDiag();
  try {
    const dead = await deadPort();
    const reports: string[] = [];
    const options = (budget: ReturnType<typeof createDeliveryBudget>): OtlpExporterOptions => ({
      // One refused attempt, then a long wait: a batch in flight is not the buffer's to drop, so
      // with quick retries which batch is the oldest held depends on the moment.
      ...FAST,
      initialBackoffMillis: 60_000,
      maxBackoffMillis: 60_000,
      budget,
      shutdownTimeoutMillis: 100,
      reportLoss: (message) => reports.push(message),
    });
    const spans = makeSpans(2);
    const records = makeLogRecords();
    const spanBytes = ProtobufTraceSerializer.serializeRequest(spans)!.byteLength;
    const logBytes = ProtobufLogsSerializer.serializeRequest(records)!.byteLength;
    // Room for the spans and one batch of log records, not two.
    const budget = createDeliveryBudget(spanBytes + logBytes + 10);
    const traces = createOtlpSpanExporter(config(dead, 'traces'), options(budget));
    const logs = createOtlpLogExporter(config(dead, 'logs'), options(budget));
    await exportOnce(traces, spans);
    await exportOnce(logs, records);
    assert.deepEqual(reports, []);
    await exportOnce(logs, records);
    assert.equal(reports.length, 1, reports.join('\n'));
    assert.match(
      reports[0]!,
      new RegExp(
        `^Dropped 2 spans: the ${budget.maxBytes}-byte outage buffer \\(ROLLDICE_OTLP_BUFFER_BYTES\\) was full; last attempt: could not reach the collector at ${dead.url}/v1/traces: `,
      ),
    );
    assert.equal(budget.heldBytes, 2 * logBytes);
    await traces.shutdown(); // it holds nothing any more: nothing lost at shutdown
    await assert.rejects(logs.shutdown(), (error: LostAtShutdownError) => error.count === 4);
  } finally {
    captured.restore();
  }
});

test('createOtlpSpanExporter() waits as long as Retry-After says, even past the export timeout', () =>
  withReceiver(async (receiver) => {
    receiver.respond(() => ({ status: 503, headers: { 'retry-after': '30' } }));
    const exporter = createOtlpSpanExporter(config(receiver, 'traces', { timeoutMillis: 300 }), {
      ...FAST,
      shutdownTimeoutMillis: 300,
    });
    await exportOnce(exporter, makeSpans(1));
    assert.equal(receiver.requests.length, 1, 'not asked again within 30 s, even by forceFlush()');
    await assert.rejects(exporter.shutdown(), (error: Error) => {
      assert.equal(
        error.message,
        `1 span not delivered at shutdown: the collector at ${receiver.url}/v1/traces answered 503 Service Unavailable`,
      );
      return true;
    });
    assert.equal(receiver.requests.length, 1);
  }));

test('createOtlpSpanExporter() sends at most concurrencyLimit requests at a time; the others wait their turn', () =>
  withReceiver(async (receiver) => {
    const captured = captureDiag();
    receiver.respond((_req, attempt) => (attempt <= 2 ? 'hang' : undefined));
    const exporter = createOtlpSpanExporter(config(receiver, 'traces', { timeoutMillis: 500 }), {
      ...FAST,
      concurrencyLimit: 2,
    });
    for (const count of [1, 2, 3]) exporter.export(makeSpans(count), () => {});
    await receiver.waitFor((r) => r.requests.length === 2);
    await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(receiver.requests.length, 2, 'the third waits');
    await receiver.waitFor((r) => r.spans().length === 6, 4000);
    assert.deepEqual(captured.problems().filter((p) => p.startsWith('Dropped')), []);
    await exporter.shutdown();
  }));

test('createOtlpSpanExporter() shutdown() waits no longer than its time, then aborts, counts and refuses new exports', () =>
  withReceiver(async (receiver) => {
    const captured = captureDiag();
    receiver.respond(() => 'hang');
    const exporter = createOtlpSpanExporter(config(receiver, 'traces', { timeoutMillis: 5000 }), {
      ...FAST,
      shutdownTimeoutMillis: 600,
    });
    exporter.export(makeSpans(2), () => {});
    await receiver.waitFor((r) => r.requests.length === 1);
    const started = performance.now();
    const shutdown = exporter.shutdown();
    assert.equal(exporter.shutdown(), shutdown, 'shutdown() is idempotent');
    await assert.rejects(shutdown, (error: Error) => {
      assert.ok(error instanceof LostAtShutdownError);
      assert.equal(error.count, 2);
      return true;
    });
    assert.ok(performance.now() - started < 1000, `shutdown took ${performance.now() - started} ms`);
    const refused = await exportOnce(exporter, makeSpans(1));
    assert.equal(refused.code, ExportResultCode.FAILED);
    assert.equal(captured.problems().at(-1), `Dropped 1 span: the exporter to ${receiver.url}/v1/traces is shut down`);
  }));

test('createOtlpSpanExporter() forceFlush() waits for the exports in flight', () =>
  withReceiver(async (receiver) => {
    receiver.respond((_req, attempt) => attempt === 1 ? { status: 503 } : undefined);
    const exporter = createOtlpSpanExporter(config(receiver, 'traces'), { ...FAST, initialBackoffMillis: 200 });
    exporter.export(makeSpans(1), () => {});
    await exporter.forceFlush!();
    assert.equal(receiver.requests.length, 2);
    assert.equal(receiver.spans().length, 1);
    await exporter.shutdown();
  }));

test('createOtlpSpanExporter() serializes in a task of its own, not in the span.end() that filled the batch', () =>
  withReceiver(async (receiver) => {
    // The batch processors call export() from inside span.end(): the request being answered.
    const [span] = makeSpans(1);
    let serializedDuringCall = false;
    let calling = false;
    const watched = new Proxy(span!, {
      get(target, key, receiverArg) {
        if (calling && key === 'name') serializedDuringCall = true;
        return Reflect.get(target, key, receiverArg);
      },
    });
    const exporter = createOtlpSpanExporter(config(receiver, 'traces'), FAST);
    const seen: { result?: ExportResult } = {};
    calling = true;
    exporter.export([watched], (result) => (seen.result = result));
    calling = false;
    assert.equal(serializedDuringCall, false);
    const beforeFlush = seen.result;
    assert.equal(beforeFlush, undefined);
    // forceFlush() waits for an export accepted but not yet started as well.
    await exporter.forceFlush!();
    assert.equal(seen.result?.code, ExportResultCode.SUCCESS);
    assert.deepEqual(receiver.spans().map((s) => s.name), ['GET /rolldice']);
    await exporter.shutdown();
  }));

test('createOtlpSpanExporter() reports dropped spans at most once per interval', () =>
  withReceiver(async (receiver) => {
    let now = 0;
    const timers: { at: number; fn: () => void; cancelled: boolean }[] = [];
    const reports: string[] = [];
    receiver.respond(() => ({ status: 404 }));
    const exporter = createOtlpSpanExporter(config(receiver, 'traces'), {
      ...FAST,
      now: () => now,
      lossReportIntervalMillis: 10_000,
      setTimer: (fn, millis) => {
        const timer = { at: now + millis, fn, cancelled: false };
        timers.push(timer);
        return () => (timer.cancelled = true);
      },
      reportLoss: (message) => reports.push(message),
    });
    const url = `${receiver.url}/v1/traces`;
    await exportOnce(exporter, makeSpans(2));
    assert.deepEqual(reports, [`Dropped 2 spans: the collector at ${url} answered 404 Not Found`]);
    now = 1000;
    await exportOnce(exporter, makeSpans(3));
    now = 2000;
    await exportOnce(exporter, makeSpans(1));
    assert.equal(reports.length, 1, 'nothing more within the interval');
    // The flushes' timers are cancelled once they are done: what is left is the summary's.
    const live = () => timers.filter((t) => !t.cancelled);
    assert.equal(live().length, 1, 'one timer for the summary');
    const summary = live()[0]!;
    assert.equal(summary.at, 10_000);
    now = 10_000;
    summary.fn();
    summary.cancelled = true;
    assert.deepEqual(reports.slice(1), [`Dropped 4 spans: the collector at ${url} answered 404 Not Found`]);
    // Pending at shutdown: reported then, with each reason counted.
    now = 12_000;
    await exportOnce(exporter, makeSpans(1));
    receiver.respond(() => ({ status: 413 }));
    await exportOnce(exporter, makeSpans(2));
    assert.equal(reports.length, 2);
    const pending = live();
    assert.equal(pending.length, 1);
    await exporter.shutdown();
    assert.equal(pending[0]!.cancelled, true);
    assert.deepEqual(reports.slice(2), [
      `Dropped 3 spans: 1 as the collector at ${url} answered 404 Not Found; 2 as the collector at ${url} answered 413 Content Too Large`,
    ]);
  }));

test('createOtlpSpanExporter() works behind a SimpleSpanProcessor', () =>
  withReceiver(async (receiver) => {
    const exporter = createOtlpSpanExporter(
      config(receiver, 'traces', { protocol: 'http/json', compression: 'gzip' }),
      FAST,
    );
    const provider = new TracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor({ exporter })] });
    provider.getTracer('rolldice').startSpan('roll').end();
    await provider.forceFlush();
    await provider.shutdown();
    assert.deepEqual(receiver.spans().map((s) => s.name), ['roll']);
    assert.equal(receiver.spans()[0].resource['service.name'], 'rolldice-test');
  }));

test('createOtlpMetricExporter() works behind a PeriodicExportingMetricReader', () =>
  withReceiver(async (receiver) => {
    const exporter = createOtlpMetricExporter(config(receiver, 'metrics'), 'delta', FAST);
    const reader = new PeriodicExportingMetricReader({ exporter, exportIntervalMillis: 3_600_000 });
    const provider = new MeterProvider({ resource, readers: [reader] });
    provider.getMeter('rolldice').createCounter('rolls').add(3);
    await provider.forceFlush();
    await provider.shutdown();
    const [metric] = receiver.metrics();
    assert.equal(metric!.name, 'rolls');
    assert.equal(metric!.sum!.aggregationTemporality, 1, 'delta');
    assert.equal(metric!.sum!.dataPoints![0]!.asDouble, 3);
  }));

test('createOtlpLogExporter() works behind a SimpleLogRecordProcessor', () =>
  withReceiver(async (receiver) => {
    const exporter = createOtlpLogExporter(config(receiver, 'logs'), FAST);
    const provider = new LoggerProvider({ resource, processors: [new SimpleLogRecordProcessor({ exporter })] });
    provider.getLogger('rolldice').emit({ body: 'Rolled 4', severityNumber: SeverityNumber.INFO });
    await provider.forceFlush();
    await provider.shutdown();
    assert.deepEqual(receiver.logRecords().map((r) => r.bodyValue), ['Rolled 4']);
  }));

test('createOtlpMetricExporter() selects temporality per preference as the spec says', () => {
  const { DELTA: D, CUMULATIVE: C } = AggregationTemporality;
  const kinds = [
    InstrumentType.COUNTER,
    InstrumentType.OBSERVABLE_COUNTER,
    InstrumentType.HISTOGRAM,
    InstrumentType.UP_DOWN_COUNTER,
    InstrumentType.OBSERVABLE_UP_DOWN_COUNTER,
    InstrumentType.GAUGE,
    InstrumentType.OBSERVABLE_GAUGE,
  ];
  const expected = {
    cumulative: [C, C, C, C, C, C, C],
    delta: [D, D, D, C, C, C, C],
    lowmemory: [D, C, D, C, C, C, C],
  } as const;
  const cfg = config({ url: 'http://127.0.0.1:4318' }, 'metrics');
  for (const preference of ['cumulative', 'delta', 'lowmemory'] as const) {
    const exporter = createOtlpMetricExporter(cfg, preference);
    assert.deepEqual(kinds.map((k) => exporter.selectAggregationTemporality!(k)), expected[preference], preference);
  }
});

test('createOtlpSpanExporter() sends nothing for an empty batch', () =>
  withReceiver(async (receiver) => {
    const exporter = createOtlpSpanExporter(config(receiver, 'traces'), FAST);
    assert.equal((await exportOnce(exporter, [])).code, ExportResultCode.SUCCESS);
    assert.equal(receiver.requests.length, 0);
    await exporter.shutdown();
  }));
