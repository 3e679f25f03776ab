import assert from 'node:assert/strict';
import { test } from 'node:test';
import { currentRuntime } from '../../_runtimes.ts';
import { diag, DiagLogLevel } from '@opentelemetry/api';
import {
  createFetchTransport,
  describeErrorBody,
  type FetchTransportOptions,
  MAX_REQUEST_BYTES,
  parseRetryAfter,
  withoutCredentials,
} from '../../../src/otlp/fetch-transport.ts';
import { type ExportError, reasonOf } from '../../../src/otlp/export-error.ts';
import { startOtlpReceiver, withReceiver } from '../../_otlp-receiver.ts';

function transportTo(receiver: { url: string }, overrides: Partial<FetchTransportOptions> = {}) {
  return createFetchTransport({
    url: `${receiver.url}/v1/traces`,
    contentType: 'application/json',
    headers: {},
    compression: 'none',
    userAgent: 'test/1',
    ...overrides,
  });
}

const BODY = new TextEncoder().encode('{"resourceSpans":[]}');

test('parseRetryAfter() reads delay-seconds and HTTP dates, never below zero', () => {
  const now = Date.parse('Wed, 21 Oct 2025 07:28:00 GMT');
  assert.equal(parseRetryAfter('3', now), 3000);
  assert.equal(parseRetryAfter(' 120 ', now), 120_000);
  assert.equal(parseRetryAfter('0', now), 0);
  assert.equal(parseRetryAfter('Wed, 21 Oct 2025 07:28:05 GMT', now), 5000);
  assert.equal(parseRetryAfter('Wed, 21 Oct 2025 07:27:00 GMT', now), 0, 'a date in the past means now');
  assert.equal(parseRetryAfter(null, now), undefined);
  assert.equal(parseRetryAfter('-5', now), undefined);
  assert.equal(parseRetryAfter('soon', now), undefined);
  assert.equal(parseRetryAfter('1.5', now), undefined);
  assert.equal(parseRetryAfter('Sun Nov  6 08:49:37 1994', now), 0, 'asctime, in the past');
});

test('describeErrorBody() reads Status.message from protobuf, JSON and text answers', () => {
  const message = new TextEncoder().encode('bad span');
  // google.rpc.Status { code: 3, message: "bad span", details: [Any{}] }
  const status = new Uint8Array([0x08, 0x03, 0x12, message.length, ...message, 0x1a, 0x00]);
  assert.equal(describeErrorBody(status, 'application/x-protobuf'), 'bad span');
  assert.equal(
    describeErrorBody(new TextEncoder().encode('{"code":3,"message":"bad json"}'), 'application/json; charset=utf-8'),
    'bad json',
  );
  assert.equal(
    describeErrorBody(new TextEncoder().encode('  upstream\nunavailable '), 'text/plain'),
    'upstream unavailable',
  );
  assert.equal(describeErrorBody(new Uint8Array([0x12, 0x09, 0x61]), 'application/x-protobuf'), undefined, 'truncated');
  assert.equal(describeErrorBody(new TextEncoder().encode('<html>'), 'text/html'), '<html>');
  assert.equal(describeErrorBody(new Uint8Array(0), 'text/plain'), undefined);
  assert.equal(describeErrorBody(new TextEncoder().encode('x'.repeat(500)), 'text/plain')!.length, 301);
});

test('withoutCredentials() drops credentials from an endpoint', () => {
  assert.equal(withoutCredentials('https://user:secret@collector:4318/v1/traces'), 'https://collector:4318/v1/traces');
  assert.equal(withoutCredentials('http://127.0.0.1:4318/v1/logs'), 'http://127.0.0.1:4318/v1/logs');
});

test('createFetchTransport() classifies 2xx, retryable and permanent answers', () =>
  withReceiver(async (receiver) => {
    const transport = transportTo(receiver);
    assert.deepEqual(
      await transport.send(BODY, 1000),
      { status: 'success', data: new TextEncoder().encode('{}') },
      'with the 2xx body, for partial_success',
    );

    receiver.respond(() => ({ status: 429, headers: { 'retry-after': '7' } }));
    const throttled = await transport.send(BODY, 1000);
    assert.equal(throttled.status, 'retryable');
    assert.equal(throttled.status === 'retryable' && throttled.retryInMillis, 7000);
    assert.equal(throttled.status === 'retryable' && throttled.error.errorType, '429');

    receiver.respond(() => ({
      status: 415,
      headers: { 'content-type': 'application/json' },
      body: '{"message":"no"}',
    }));
    const rejected = await transport.send(BODY, 1000);
    assert.equal(rejected.status, 'failure');
    assert.equal(
      reasonOf(rejected.status === 'failure' && rejected.error),
      `the collector at ${receiver.url}/v1/traces answered 415 Unsupported Media Type: no`,
    );
    assert.equal(
      (rejected as { error: Error }).error.message,
      `The collector at ${receiver.url}/v1/traces answered 415 Unsupported Media Type: no`,
    );
    assert.equal(rejected.status === 'failure' && rejected.error.errorType, '415');
  }));

test('createFetchTransport() sets content-type, content-encoding and user-agent over configured headers', () =>
  withReceiver(async (receiver) => {
    const transport = transportTo(receiver, {
      contentType: 'application/x-protobuf',
      compression: 'gzip',
      headers: { 'Content-Type': 'text/plain', 'x-api-key': 'k' },
    });
    await transport.send(new Uint8Array(0), 1000);
    const [request] = receiver.requests;
    assert.equal(request!.contentType, 'application/x-protobuf');
    assert.equal(request!.contentEncoding, 'gzip');
    assert.equal(request!.headers['user-agent'], 'test/1');
    assert.equal(request!.headers['x-api-key'], 'k');
  }));

test(
  'createFetchTransport({ streamBody }) sends the bytes whole, with their Content-Length, not chunked',
  {
    skip: currentRuntime === 'deno' &&
      "Deno's fetch sends a stream chunked whatever Content-Length says (deno 2.9.6); the service streams bodies on Node only",
  },
  () =>
    withReceiver(async (receiver) => {
      // ExportTraceServiceRequest { resource_spans { schema_url: 200 000 letters } }: a collector decodes it.
      const varint = (n: number): number[] => (n < 128 ? [n] : [(n & 0x7f) | 0x80, ...varint(Math.floor(n / 128))]);
      const schemaUrl = [0x1a, ...varint(200_000), ...new Uint8Array(200_000).fill(0x61)];
      const payload = new Uint8Array([0x0a, ...varint(schemaUrl.length), ...schemaUrl]);
      for (const compression of ['none', 'gzip'] as const) {
        const transport = transportTo(receiver, {
          contentType: 'application/x-protobuf',
          compression,
          streamBody: true,
        });
        const body = await transport.prepare(payload);
        assert.deepEqual(await transport.send(body, 5000), { status: 'success' });
        assert.deepEqual(
          await transport.send(body, 5000),
          { status: 'success' },
          'a second request, on the same connection',
        );
      }
      assert.equal(receiver.requests.length, 4);
      for (const request of receiver.requests) {
        assert.deepEqual(request.body, payload, `${request.contentEncoding ?? 'identity'}: the same bytes`);
        assert.equal(request.headers['content-length'], String(request.rawBody.length));
        assert.equal(request.headers['transfer-encoding'], undefined);
      }
    }),
);

test('createFetchTransport({ streamBody }) answers a 307 or 308 by sending the bytes again, redirects followed', async () => {
  for (const status of [307, 308]) {
    await withReceiver(async (receiver) => {
      // The collector moved: /v1/traces redirects to /v1/logs, where the receiver says 200.
      receiver.respond((request) =>
        request.path === '/v1/traces' ? { status, headers: { location: `${receiver.url}/v1/logs` } } : undefined
      );
      const transport = transportTo(receiver, { streamBody: true });
      assert.equal((await transport.send(BODY, 5000)).status, 'success', `${status}`);
      const delivered = receiver.requests.filter((request) => request.responseStatus === 200);
      assert.deepEqual(delivered.map((request) => [request.path, new TextDecoder().decode(request.body)]), [[
        '/v1/logs',
        new TextDecoder().decode(BODY),
      ]]);
      assert.equal(receiver.requests.at(-1), delivered[0], 'nothing sent after the delivery');
    });
  }
});

test('createFetchTransport() prepare() refuses a request over the 20 MiB OTLP limit before compressing it', async () => {
  const transport = transportTo({ url: 'http://127.0.0.1:9' }, { compression: 'gzip' });
  await assert.rejects(transport.prepare(new Uint8Array(MAX_REQUEST_BYTES + 1)), (error: Error) => {
    assert.match(reasonOf(error), /over the 20971520-byte OTLP limit/);
    assert.equal((error as ExportError).errorType, 'request_too_large');
    return true;
  });
});

test('createFetchTransport() prepare() gzips once, and leaves the bytes alone without compression', async () => {
  const data = new TextEncoder().encode('x'.repeat(1000));
  assert.equal(await transportTo({ url: 'http://127.0.0.1:9' }).prepare(data), data);
  const gzipped = await transportTo({ url: 'http://127.0.0.1:9' }, { compression: 'gzip' }).prepare(data);
  assert.deepEqual([...gzipped.subarray(0, 2)], [0x1f, 0x8b]);
  assert.ok(gzipped.length < 100);
});

test('createFetchTransport() makes a refused connection and a silent collector retryable', () =>
  withReceiver(async (receiver) => {
    receiver.respond(() => 'hang');
    const transport = transportTo(receiver);
    const started = performance.now();
    const silent = await transport.send(BODY, 200);
    assert.ok(performance.now() - started < 600);
    assert.equal(silent.status, 'retryable', 'a stalled connection: another may go through');
    assert.match(
      reasonOf((silent as { error: Error }).error),
      new RegExp(`^the collector at ${receiver.url}/v1/traces did not answer within \\d+ ms$`),
    );
    assert.equal((silent as { error: ExportError }).error.errorType, 'timeout');

    const abandon = new AbortController();
    const pending = transport.send(BODY, 5000, abandon.signal);
    await receiver.waitFor((r) => r.requests.length === 2);
    abandon.abort();
    const abandoned = await pending;
    assert.equal(abandoned.status, 'retryable', 'abandoned by the caller: as if its time ran out');
    assert.equal((abandoned as { error: ExportError }).error.errorType, 'timeout');

    const closed = await startOtlpReceiver();
    await closed.close();
    const refused = await transportTo(closed).send(BODY, 1000);
    assert.equal(refused.status, 'retryable');
    assert.equal((refused as { error: ExportError }).error.errorType, 'connection_failed');
    assert.match(
      reasonOf((refused as { error: Error }).error),
      new RegExp(`^could not reach the collector at ${closed.url}/v1/traces: `),
    );
  }));

test('createFetchTransport() shutdown() aborts requests in flight and refuses new ones', () =>
  withReceiver(async (receiver) => {
    receiver.respond(() => 'hang');
    const transport = transportTo(receiver);
    const pending = transport.send(BODY, 5000);
    await receiver.waitFor((r) => r.requests.length === 1);
    transport.shutdown();
    const response = await pending;
    assert.equal(response.status, 'failure');
    assert.match(reasonOf((response as { error: Error }).error), /shut down before the collector/);
    assert.equal((response as { error: ExportError }).error.errorType, 'shutdown');
    assert.equal((await transport.send(BODY, 5000)).status, 'failure');
    assert.equal(receiver.requests.length, 1);
  }));

function captureDebug() {
  const messages: string[] = [];
  // Not the API's own "Registered a global for diag" line.
  const log = (message: string) => void (message.startsWith('@opentelemetry/api:') || messages.push(message));
  diag.setLogger({ error: log, warn: log, info: log, debug: log, verbose: log }, {
    logLevel: DiagLogLevel.ALL,
    suppressOverrideMessage: true,
  });
  return messages;
}

test('createFetchTransport() refuses an unusable URL at once instead of retrying it', async () => {
  const messages = captureDebug();
  try {
    const transport = createFetchTransport({
      url: 'ftp://collector/v1/traces',
      contentType: 'application/json',
      headers: {},
      compression: 'none',
      userAgent: 'test/1',
    });
    assert.deepEqual(messages, ['Cannot export to ftp://collector/v1/traces: its scheme "ftp" is not http or https']);
    await assert.rejects(transport.prepare(BODY), (error: Error) => {
      assert.equal(
        reasonOf(error),
        'cannot export to ftp://collector/v1/traces: its scheme "ftp" is not http or https',
      );
      return true;
    });
  } finally {
    diag.disable();
  }
});

test('createFetchTransport() skips an invalid header with a diagnostic and sends the rest', () =>
  withReceiver(async (receiver) => {
    const messages = captureDebug();
    try {
      const transport = transportTo(receiver, { headers: { 'bad name': 'x', 'x-good': 'yes', 'x-bad-value': 'a\nb' } });
      assert.deepEqual(messages, [
        'Ignoring the OTLP header "bad name": not a valid HTTP header name and value',
        'Ignoring the OTLP header "x-bad-value": not a valid HTTP header name and value',
      ]);
      assert.equal((await transport.send(BODY, 1000)).status, 'success');
      assert.equal(receiver.requests[0]!.headers['x-good'], 'yes');
    } finally {
      diag.disable();
    }
  }));
