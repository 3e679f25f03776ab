import assert from 'node:assert/strict';
import { test } from 'node:test';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode } from '@opentelemetry/api';
import { createInstrumentedFetch, instrumentGlobalFetch } from '../../../src/http/client.ts';
import { freePort, startStub } from '../../_http-stub.ts';
import { createTestTelemetry, points } from '../../_telemetry.ts';

function setup() {
  const telemetry = createTestTelemetry();
  return { telemetry, tracedFetch: createInstrumentedFetch(telemetry) };
}

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1, 2.5, 5, 7.5, 10];

test('createInstrumentedFetch() emits a CLIENT span with the stable HTTP client conventions', async () => {
  const stub = await startStub((_, res) => res.end('hello'));
  try {
    const { telemetry, tracedFetch } = setup();
    const response = await tracedFetch(`${stub.url}/things/1?q=dice#top`);
    assert.equal(await response.text(), 'hello');
    const [span] = telemetry.spans();
    assert.equal(span!.name, 'GET');
    assert.equal(span!.kind, SpanKind.CLIENT);
    assert.equal(span!.instrumentationScope.name, '@rolldice/otel');
    const port = Number(new URL(stub.url).port);
    assert.deepEqual(span!.attributes, {
      'http.request.method': 'GET',
      'server.address': '127.0.0.1',
      'server.port': port,
      'url.full': `${stub.url}/things/1?q=dice#top`,
      'http.response.status_code': 200,
    });
    assert.equal(span!.status.code, SpanStatusCode.UNSET);
    assert.equal(span!.parentSpanContext, undefined);
  } finally {
    await stub.close();
  }
});

test("createInstrumentedFetch() injects the context into a copy of the headers, the caller's stay untouched", async () => {
  const stub = await startStub();
  try {
    const { telemetry, tracedFetch } = setup();
    const tracer = telemetry.tracerProvider.getTracer('test');
    const headers = new Headers({ 'x-mine': '1' });
    const request = new Request(`${stub.url}/r`, { method: 'POST', body: 'payload', headers: { 'x-request': '2' } });
    const requestHeaders = [...request.headers];
    const baggage = propagation.createBaggage({ 'player.tier': { value: 'gold' } });
    await tracer.startActiveSpan('parent', async (parent) => {
      await context.with(propagation.setBaggage(context.active(), baggage), async () => {
        await (await tracedFetch(`${stub.url}/h`, { headers })).text();
        await (await tracedFetch(request)).text();
      });
      parent.end();
    });
    assert.deepEqual([...headers], [['x-mine', '1']]);
    assert.deepEqual([...request.headers], requestHeaders);
    assert.equal(request.headers.get('traceparent'), null);
    const parent = telemetry.span('parent');
    const clients = telemetry.spans().filter((s) => s.kind === SpanKind.CLIENT);
    assert.equal(clients.length, 2);
    for (const [i, received] of stub.received.entries()) {
      const client = clients[i]!;
      assert.equal(client.parentSpanContext?.spanId, parent.spanContext().spanId, 'the active span is the parent');
      assert.equal(
        received.headers.traceparent,
        `00-${client.spanContext().traceId}-${client.spanContext().spanId}-03`,
        'sampled, and random: a new trace',
      );
      assert.equal(received.headers.baggage, 'player.tier=gold');
    }
    assert.equal(stub.received[0]!.headers['x-mine'], '1');
    assert.equal(stub.received[1]!.headers['x-request'], '2');
    assert.equal(stub.received[1]!.method, 'POST');
    assert.equal(clients[1]!.name, 'POST');
  } finally {
    await stub.close();
  }
});

test('createInstrumentedFetch() redacts credentials and signatures in url.full', async () => {
  const stub = await startStub();
  try {
    const { telemetry, tracedFetch } = setup();
    const url = `${stub.url.replace('http://', 'http://alice:secret@')}/s?a=1&sig=abc&X-Amz-Signature=def&Signature`;
    // A token alone in the user part is a credential too (`https://TOKEN@host/…`, as git hosts take it).
    const tokenOnly = `${stub.url.replace('http://', 'http://ghp_token123@')}/t`;
    // Node's fetch refuses URLs with credentials (as the Fetch standard says); Deno and Bun send them.
    await tracedFetch(url).then((r) => r.text(), () => undefined);
    await tracedFetch(tokenOnly).then((r) => r.text(), () => undefined);
    const [span, tokenSpan] = telemetry.spans();
    const redacted = stub.url.replace('http://', 'http://REDACTED:REDACTED@');
    assert.equal(
      span!.attributes['url.full'],
      `${redacted}/s?a=1&sig=REDACTED&X-Amz-Signature=REDACTED&Signature=REDACTED`,
    );
    assert.equal(tokenSpan!.attributes['url.full'], `${redacted}/t`);
    assert.doesNotMatch(JSON.stringify([span!.attributes, tokenSpan!.attributes]), /secret|alice|abc|def|ghp_token/);
  } finally {
    await stub.close();
  }
});

test('createInstrumentedFetch() marks 4xx and 5xx answers as errors with the status as error.type', async () => {
  const stub = await startStub((req, res) => {
    res.statusCode = Number(req.url!.slice(1));
    res.end();
  });
  try {
    const { telemetry, tracedFetch } = setup();
    for (const status of [200, 302, 404, 503]) {
      const response = await tracedFetch(`${stub.url}/${status}`, { redirect: 'manual' });
      assert.equal(response.status, status);
      await response.body?.cancel();
    }
    const byStatus = new Map(telemetry.spans().map((s) => [s.attributes['http.response.status_code'], s]));
    assert.equal(byStatus.get(200)!.status.code, SpanStatusCode.UNSET);
    assert.equal(byStatus.get(302)!.status.code, SpanStatusCode.UNSET);
    for (const status of [404, 503]) {
      assert.equal(byStatus.get(status)!.status.code, SpanStatusCode.ERROR);
      assert.equal(byStatus.get(status)!.attributes['error.type'], String(status));
    }
    assert.equal(byStatus.get(200)!.attributes['error.type'], undefined);
  } finally {
    await stub.close();
  }
});

test('createInstrumentedFetch() passes a network failure to the caller and records it', async () => {
  const { telemetry, tracedFetch } = setup();
  const port = await freePort();
  await assert.rejects(tracedFetch(`http://127.0.0.1:${port}/`), (error: Error) => error.name === 'TypeError');
  const [span] = telemetry.spans();
  assert.equal(span!.status.code, SpanStatusCode.ERROR);
  assert.equal(span!.attributes['error.type'], 'TypeError');
  assert.equal(span!.attributes['http.response.status_code'], undefined);
  assert.equal(span!.events[0]?.name, 'exception');
  const metric = await telemetry.metric('http.client.request.duration');
  assert.equal(points(metric)[0]!.attributes['error.type'], 'TypeError');
});

test('createInstrumentedFetch() ends the span when a request is aborted or times out', async () => {
  const stub = await startStub(() => {}); // never answers
  try {
    const { telemetry, tracedFetch } = setup();
    const controller = new AbortController();
    const aborted = tracedFetch(`${stub.url}/hang`, { signal: controller.signal });
    setTimeout(() => controller.abort(), 50);
    await assert.rejects(aborted, (error: Error) => error.name === 'AbortError');
    await assert.rejects(
      tracedFetch(`${stub.url}/hang`, { signal: AbortSignal.timeout(50) }),
      (error: Error) => error.name === 'TimeoutError',
    );
    const types = telemetry.spans().map((s) => [s.attributes['error.type'], s.status.code]);
    assert.deepEqual(types, [['AbortError', SpanStatusCode.ERROR], ['TimeoutError', SpanStatusCode.ERROR]]);
  } finally {
    await stub.close();
  }
});

test('createInstrumentedFetch() records http.client.request.duration in seconds with the advised buckets', async () => {
  const stub = await startStub((req, res) => {
    res.statusCode = req.url === '/missing' ? 404 : 200;
    res.end();
  });
  try {
    const { telemetry, tracedFetch } = setup();
    await (await tracedFetch(`${stub.url}/a`)).text();
    await (await tracedFetch(`${stub.url}/a`, { method: 'post', body: 'x' })).text();
    await (await tracedFetch(`${stub.url}/missing`)).text();
    const metric = await telemetry.metric('http.client.request.duration');
    assert.equal(metric?.descriptor.unit, 's');
    const port = Number(new URL(stub.url).port);
    const base = { 'server.address': '127.0.0.1', 'server.port': port, 'url.scheme': 'http' };
    const attributes = points(metric).map((p) => p.attributes).sort((a, b) =>
      JSON.stringify(a).localeCompare(JSON.stringify(b))
    );
    assert.deepEqual(
      attributes,
      [
        { 'http.request.method': 'GET', ...base, 'http.response.status_code': 200 },
        { 'http.request.method': 'GET', ...base, 'http.response.status_code': 404, 'error.type': '404' },
        { 'http.request.method': 'POST', ...base, 'http.response.status_code': 200 },
      ].sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b))),
    );
    const point = points(metric)[0]!.value as { count: number; sum: number; buckets: { boundaries: number[] } };
    assert.ok(point.sum > 0 && point.sum < 5, `duration ${point.sum} s`);
    assert.deepEqual(point.buckets.boundaries, BUCKETS);
  } finally {
    await stub.close();
  }
});

test('createInstrumentedFetch() reports an unknown method as _OTHER named HTTP', async () => {
  const stub = await startStub();
  try {
    const { telemetry, tracedFetch } = setup();
    await (await tracedFetch(`${stub.url}/`, { method: 'PURGE' })).text();
    const span = telemetry.spans()[0]!;
    assert.equal(span.name, 'HTTP');
    assert.equal(span.attributes['http.request.method'], '_OTHER');
    assert.equal(span.attributes['http.request.method_original'], 'PURGE');
    assert.equal(stub.received[0]!.method, 'PURGE');
  } finally {
    await stub.close();
  }
});

test('createInstrumentedFetch() sends a suppressed request untraced and unchanged', async () => {
  const stub = await startStub();
  try {
    const { telemetry, tracedFetch } = setup();
    const { suppressTracing } = await import('@opentelemetry/core');
    await context.with(suppressTracing(ROOT_CONTEXT), async () => (await tracedFetch(`${stub.url}/`)).text());
    assert.equal(telemetry.spans().length, 0);
    assert.equal(stub.received[0]!.headers.traceparent, undefined);
  } finally {
    await stub.close();
  }
});

test('instrumentGlobalFetch() traces the global fetch until undone, once however often it is called', async () => {
  const stub = await startStub();
  const original = globalThis.fetch;
  const { telemetry } = setup();
  const undo = instrumentGlobalFetch(telemetry);
  const again = instrumentGlobalFetch(telemetry);
  try {
    assert.notEqual(globalThis.fetch, original);
    await (await fetch(`${stub.url}/one`)).text();
    assert.equal(telemetry.spans().length, 1, 'one span, not one per install');
  } finally {
    again();
    undo();
    await stub.close();
  }
  assert.equal(globalThis.fetch, original);
  await (await original(`${stub.url}/two`).catch(() => new Response())).text();
  assert.equal(telemetry.spans().length, 1);
});
