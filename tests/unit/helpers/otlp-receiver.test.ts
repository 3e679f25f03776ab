import assert from 'node:assert/strict';
import { gzipSync } from 'node:zlib';
import { test } from 'node:test';
import { ROOT_CONTEXT, SeverityNumber, SpanKind, trace } from '@opentelemetry/api';
import {
  JsonLogsSerializer,
  JsonMetricsSerializer,
  JsonTraceSerializer,
  ProtobufLogsSerializer,
  ProtobufMetricsSerializer,
  ProtobufTraceSerializer,
} from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import type { OtlpSignal } from '../../_otlp-decode.ts';
import { type OtlpReceiver, startOtlpReceiver, withReceiver } from '../../_otlp-receiver.ts';

const resource = resourceFromAttributes({ 'service.name': 'rolldice-test' });

class CollectingReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

/** One export request per signal in both encodings, made from real SDK telemetry. */
async function makeBodies(): Promise<Record<OtlpSignal, { protobuf: Uint8Array; json: Uint8Array }>> {
  const spanExporter = new InMemorySpanExporter();
  const tracer = new TracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor({ exporter: spanExporter })] })
    .getTracer('rolldice', '0.1.0');
  const parent = tracer.startSpan('GET /rolldice', {
    kind: SpanKind.SERVER,
    attributes: { 'http.route': '/rolldice', 'rolls': 2 },
  });
  tracer.startSpan(
    'roll',
    { attributes: { 'roll.values': [3, 5], 'roll.fair': true } },
    trace.setSpan(ROOT_CONTEXT, parent),
  ).end();
  parent.end();
  const spans = spanExporter.getFinishedSpans();

  const reader = new CollectingReader();
  const meter = new MeterProvider({ resource, readers: [reader] }).getMeter('rolldice', '0.1.0');
  meter.createCounter('rolls').add(2, { 'roll.sides': 6 });
  meter.createHistogram('roll.value').record(4);
  const { resourceMetrics } = await reader.collect();

  const logExporter = new InMemoryLogRecordExporter();
  const logger = new LoggerProvider({ resource, processors: [new SimpleLogRecordProcessor({ exporter: logExporter })] })
    .getLogger('rolldice', '0.1.0');
  logger.emit({
    body: 'Rolled',
    severityNumber: SeverityNumber.INFO,
    attributes: { 'roll.value': 4, 'roll.ok': true },
  });
  logger.emit({ body: { value: 5, tags: ['a'] }, eventName: 'dice.rolled' });
  const logRecords = logExporter.getFinishedLogRecords();

  return {
    traces: {
      protobuf: ProtobufTraceSerializer.serializeRequest(spans)!,
      json: JsonTraceSerializer.serializeRequest(spans)!,
    },
    metrics: {
      protobuf: ProtobufMetricsSerializer.serializeRequest(resourceMetrics)!,
      json: JsonMetricsSerializer.serializeRequest(resourceMetrics)!,
    },
    logs: {
      protobuf: ProtobufLogsSerializer.serializeRequest(logRecords)!,
      json: JsonLogsSerializer.serializeRequest(logRecords)!,
    },
  };
}

const CONTENT_TYPES = { protobuf: 'application/x-protobuf', json: 'application/json' };

function post(receiver: OtlpReceiver, path: string, body: Uint8Array | string, headers: Record<string, string>) {
  // A copy, because fetch's types want a Uint8Array backed by a plain ArrayBuffer.
  return fetch(receiver.url + path, {
    method: 'POST',
    headers,
    body: typeof body === 'string' ? body : new Uint8Array(body),
  });
}

test('startOtlpReceiver() accepts every signal as protobuf and JSON, plain and gzipped', () =>
  withReceiver(async (receiver) => {
    assert.match(receiver.url, /^http:\/\/127\.0\.0\.1:\d+$/);
    const bodies = await makeBodies();
    for (const signal of ['traces', 'metrics', 'logs'] as const) {
      for (const encoding of ['protobuf', 'json'] as const) {
        for (const gzip of [false, true]) {
          const body = bodies[signal][encoding];
          const headers: Record<string, string> = { 'content-type': CONTENT_TYPES[encoding] };
          if (gzip) headers['content-encoding'] = 'gzip';
          const response = await post(receiver, `/v1/${signal}`, gzip ? new Uint8Array(gzipSync(body)) : body, headers);
          assert.equal(response.status, 200, `${signal} ${encoding} gzip=${gzip}`);
          assert.equal(response.headers.get('content-type'), CONTENT_TYPES[encoding]);
          // The empty Export*ServiceResponse: zero bytes in protobuf, `{}` in JSON.
          assert.equal(await response.text(), encoding === 'json' ? '{}' : '');

          const received = receiver.requests.at(-1)!;
          assert.equal(received.signal, signal);
          assert.equal(received.method, 'POST');
          assert.equal(received.path, `/v1/${signal}`);
          assert.equal(received.contentType, CONTENT_TYPES[encoding]);
          assert.equal(received.headers['content-type'], CONTENT_TYPES[encoding]);
          assert.equal(received.contentEncoding, gzip ? 'gzip' : undefined);
          assert.deepEqual(received.body, body);
          assert.equal(received.rawBody.length === body.length, !gzip);
          assert.equal(received.error, undefined);
          assert.equal(received.responseStatus, 200);
          assert.ok(received.document !== undefined);
        }
      }
      // Both encodings carry the same telemetry, so all four documents are equal.
      const documents = receiver.requests.filter((r) => r.signal === signal).map((r) => r.document);
      assert.equal(documents.length, 4);
      for (const document of documents.slice(1)) assert.deepEqual(document, documents[0]);
    }
    assert.equal(receiver.requests.length, 12);
    assert.equal(receiver.spans().length, 2 * 4);
    assert.equal(receiver.logRecords().length, 2 * 4);
    assert.equal(receiver.metrics().length, 2 * 4);
  }));

test('OtlpReceiver.spans(), logRecords() and metrics() flatten with resource, scope and plain attributes', () =>
  withReceiver(async (receiver) => {
    const bodies = await makeBodies();
    for (const signal of ['traces', 'metrics', 'logs'] as const) {
      await post(receiver, `/v1/${signal}`, bodies[signal].protobuf, { 'content-type': CONTENT_TYPES.protobuf });
    }
    const [roll, server] = receiver.spans();
    assert.equal(server.name, 'GET /rolldice');
    assert.equal(server.kind, 2);
    assert.deepEqual(server.resource['service.name'], 'rolldice-test');
    assert.deepEqual(server.scope, { name: 'rolldice', version: '0.1.0' });
    assert.deepEqual(server.attributesObject, { 'http.route': '/rolldice', 'rolls': 2 });
    assert.deepEqual(roll.attributesObject, { 'roll.values': [3, 5], 'roll.fair': true });
    assert.equal(roll.parentSpanId, server.spanId);

    const [rolled, event] = receiver.logRecords();
    assert.equal(rolled.bodyValue, 'Rolled');
    assert.deepEqual(rolled.attributesObject, { 'roll.value': 4, 'roll.ok': true });
    assert.deepEqual(rolled.scope, { name: 'rolldice', version: '0.1.0' });
    assert.equal(rolled.resource['service.name'], 'rolldice-test');
    assert.equal(event.eventName, 'dice.rolled');
    assert.deepEqual(event.bodyValue, { value: 5, tags: ['a'] });

    const metrics = receiver.metrics();
    assert.deepEqual(metrics.map((m) => m.name), ['rolls', 'roll.value']);
    assert.equal(metrics[0]?.sum?.dataPoints?.[0]?.asDouble, 2);
    assert.equal(metrics[1]?.histogram?.dataPoints?.[0]?.count, '1');
    assert.deepEqual(metrics[1].scope, { name: 'rolldice', version: '0.1.0' });
    assert.equal(metrics[1].resource['service.name'], 'rolldice-test');
  }));

test('startOtlpReceiver() rejects a bad content type, bad gzip, an undecodable body and an unknown path', () =>
  withReceiver(async (receiver) => {
    const { traces } = await makeBodies();
    const cases: {
      path: string;
      headers: Record<string, string>;
      body: Uint8Array | string;
      status: number;
      error: RegExp;
    }[] = [
      {
        path: '/v1/traces',
        headers: { 'content-type': 'text/plain' },
        body: 'hi',
        status: 415,
        error: /^Unsupported content-type "text\/plain"$/,
      },
      {
        path: '/v1/traces',
        headers: { 'content-type': CONTENT_TYPES.protobuf, 'content-encoding': 'gzip' },
        body: traces.protobuf,
        status: 400,
        error: /^Body is not valid gzip/,
      },
      {
        path: '/v1/traces',
        headers: { 'content-type': CONTENT_TYPES.protobuf, 'content-encoding': 'br' },
        body: traces.protobuf,
        status: 415,
        error: /^Unsupported content-encoding "br"$/,
      },
      {
        path: '/v1/traces',
        headers: { 'content-type': CONTENT_TYPES.protobuf },
        body: traces.protobuf.subarray(0, 20),
        status: 400,
        error: /^Cannot decode the body: Malformed OTLP protobuf/,
      },
      {
        path: '/v1/logs',
        headers: { 'content-type': CONTENT_TYPES.json },
        body: '{"resourceLogs": 1}',
        status: 400,
        error: /^Cannot decode the body: Malformed OTLP\/JSON at logs\.resourceLogs/,
      },
      {
        path: '/v1/metrics',
        headers: { 'content-type': CONTENT_TYPES.json },
        body: '{not json',
        status: 400,
        error: /^Cannot decode the body: /,
      },
      {
        path: '/v1/profiles',
        headers: { 'content-type': CONTENT_TYPES.protobuf },
        body: traces.protobuf,
        status: 404,
        error: /^No OTLP endpoint at \/v1\/profiles$/,
      },
    ];
    for (const c of cases) {
      const response = await post(receiver, c.path, c.body, c.headers);
      assert.equal(response.status, c.status, c.path + ' ' + JSON.stringify(c.headers));
      const text = await response.text();
      const received = receiver.requests.at(-1)!;
      assert.match(received.error ?? '', c.error);
      assert.equal(received.document, undefined);
      assert.equal(received.responseStatus, c.status);
      if (c.headers['content-type'] === CONTENT_TYPES.json) assert.equal(JSON.parse(text).message, received.error);
    }
    // A protobuf error reply is a google.rpc.Status: code 3, then the message.
    const response = await post(receiver, '/v1/traces', 'x', {
      'content-type': CONTENT_TYPES.protobuf,
      'content-encoding': 'gzip',
    });
    assert.equal(response.headers.get('content-type'), CONTENT_TYPES.protobuf);
    const status = new Uint8Array(await response.arrayBuffer());
    assert.deepEqual([...status.subarray(0, 3)], [0x08, 3, 0x12]);
    assert.match(new TextDecoder().decode(status.subarray(4)), /^Body is not valid gzip/);

    const get = await fetch(receiver.url + '/v1/traces');
    assert.equal(get.status, 405);
    await get.text();
    assert.equal(receiver.requests.length, cases.length + 2);
    assert.deepEqual(receiver.spans(), []);
  }));

test('OtlpReceiver.respond() answers 503 with Retry-After, then accepts the retry', () =>
  withReceiver(async (receiver) => {
    const { traces } = await makeBodies();
    const attempts: number[] = [];
    receiver.respond((req, attempt) => {
      attempts.push(attempt);
      assert.equal(req.signal, 'traces');
      return attempt === 1 ? { status: 503, headers: { 'retry-after': '1' }, body: 'Busy' } : undefined;
    });
    const headers = { 'content-type': CONTENT_TYPES.protobuf };
    const first = await post(receiver, '/v1/traces', traces.protobuf, headers);
    assert.equal(first.status, 503);
    assert.equal(first.headers.get('retry-after'), '1');
    assert.equal(first.headers.get('content-type'), CONTENT_TYPES.protobuf);
    assert.equal(await first.text(), 'Busy');
    assert.equal(receiver.spans().length, 0); // decoded, but not accepted

    const second = await post(receiver, '/v1/traces', traces.protobuf, headers);
    assert.equal(second.status, 200);
    await second.arrayBuffer();
    assert.deepEqual(attempts, [1, 2]);
    assert.equal(receiver.requests.length, 2);
    assert.ok(receiver.requests[0]!.document !== undefined);
    assert.equal(receiver.spans().length, 2);

    // Resetting restores the default answer and restarts the attempt count.
    receiver.respond(undefined);
    const third = await post(receiver, '/v1/traces', traces.protobuf, headers);
    assert.equal(third.status, 200);
    await third.arrayBuffer();
  }));

test('OtlpReceiver.respond() turns a throwing responder into a 500', () =>
  withReceiver(async (receiver) => {
    receiver.respond(() => {
      throw new Error('Unexpected export');
    });
    const { traces } = await makeBodies();
    const response = await post(receiver, '/v1/traces', traces.json, { 'content-type': CONTENT_TYPES.json });
    assert.equal(response.status, 500);
    assert.equal((await response.json()).message, 'The responder threw: Unexpected export');
    assert.equal(receiver.requests[0]!.error, 'The responder threw: Unexpected export');
  }));

test('OtlpReceiver.close() ends a request that the responder left hanging', { timeout: 5000 }, async () => {
  const receiver = await startOtlpReceiver();
  receiver.respond(() => 'hang');
  const { logs } = await makeBodies();
  const pending = post(receiver, '/v1/logs', logs.protobuf, { 'content-type': CONTENT_TYPES.protobuf }).then(
    (response) => `answered ${response.status}`,
    () => 'failed',
  );
  await receiver.waitFor((r) => r.requests.length === 1);
  assert.equal(receiver.requests[0]!.responseStatus, undefined);
  assert.equal(receiver.logRecords().length, 0);
  const started = performance.now();
  await receiver.close();
  assert.equal(await pending, 'failed');
  assert.ok(performance.now() - started < 2000);
});

test("OtlpReceiver.respond() with 'drop' closes the connection without an answer", () =>
  withReceiver(async (receiver) => {
    receiver.respond(() => 'drop');
    const { metrics } = await makeBodies();
    await assert.rejects(post(receiver, '/v1/metrics', metrics.protobuf, { 'content-type': CONTENT_TYPES.protobuf }));
    assert.equal(receiver.requests.length, 1);
    assert.equal(receiver.metrics().length, 0);
  }));

test('OtlpReceiver.waitFor() resolves on arrival and rejects with what arrived on timeout', () =>
  withReceiver(async (receiver) => {
    const { traces } = await makeBodies();
    const waiting = receiver.waitFor((r) => r.spans().length >= 2, 2000);
    const response = await post(receiver, '/v1/traces', traces.json, { 'content-type': CONTENT_TYPES.json });
    await response.text();
    await waiting;
    await assert.rejects(
      receiver.waitFor((r) => r.logRecords().length > 0, 50),
      (error: Error) => {
        assert.match(error.message, /^OTLP receiver: timed out after 50 ms waiting for .*logRecords\(\)\.length > 0/);
        assert.match(error.message, /POST \/v1\/traces \[application\/json\] → 200/);
        return true;
      },
    );
  }));

test('OtlpReceiver.close() does not wait for idle keep-alive connections', { timeout: 5000 }, async () => {
  const receiver = await startOtlpReceiver();
  const { traces } = await makeBodies();
  for (let i = 0; i < 3; i++) {
    const response = await post(receiver, '/v1/traces', traces.protobuf, { 'content-type': CONTENT_TYPES.protobuf });
    await response.arrayBuffer();
  }
  const started = performance.now();
  await receiver.close();
  assert.ok(performance.now() - started < 2000);
});
