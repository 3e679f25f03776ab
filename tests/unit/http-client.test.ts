import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { context, propagation, ROOT_CONTEXT, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { createApp } from '../../src/service/app.ts';
import { createInstrumentedFetch, instrumentGlobalFetch } from '../../src/http/client.ts';
import { createW3CPropagator } from '../../src/w3c/propagation.ts';
import { test } from '../_harness.ts';
import { createTestTelemetry, points } from '../_telemetry.ts';

interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

interface Stub {
  url: string;
  received: Received[];
  close(): Promise<void>;
}

type Answer = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** A local HTTP server on 127.0.0.1 that records requests and answers as told. */
async function startStub(answer: Answer = (_, res) => res.end('ok')): Promise<Stub> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    received.push({ method: req.method!, url: req.url!, headers: req.headers });
    answer(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port on 127.0.0.1 where nothing listens. */
async function deadPort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

function setup() {
  const telemetry = { ...createTestTelemetry(), propagator: createW3CPropagator() };
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
    // Node's fetch refuses URLs with credentials (as the Fetch standard says); Deno and Bun send them.
    await tracedFetch(url).then((r) => r.text(), () => undefined);
    const span = telemetry.spans()[0]!;
    assert.equal(
      span.attributes['url.full'],
      `${
        stub.url.replace('http://', 'http://REDACTED:REDACTED@')
      }/s?a=1&sig=REDACTED&X-Amz-Signature=REDACTED&Signature=REDACTED`,
    );
    assert.doesNotMatch(JSON.stringify(span.attributes), /secret|alice|abc|def/);
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
  const port = await deadPort();
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

// The upstream mode of createApp(): the roll comes from another dice service.

function upstreamApp(upstream: string, upstreamTimeoutMillis = 2_000) {
  const telemetry = { ...createTestTelemetry(), propagator: createW3CPropagator() };
  return { telemetry, app: createApp(telemetry, { upstream, upstreamTimeoutMillis }) };
}

test("createApp() with an upstream answers with the upstream's roll, traced as a child of roll", async () => {
  const stub = await startStub((_, res) => res.end('5\n'));
  try {
    const { telemetry, app } = upstreamApp(stub.url);
    const response = await app(
      new Request('http://localhost:8080/rolldice/Ren%C3%A9%20M', { headers: { baggage: 'player.tier=gold' } }),
    );
    assert.equal(response.status, 200);
    assert.equal(await response.text(), '5\n');
    const anonymous = await app(new Request('http://localhost:8080/rolldice'));
    assert.equal(await anonymous.text(), '5\n');
    assert.deepEqual(stub.received.map((r) => r.url), ['/rolldice/Ren%C3%A9%20M', '/rolldice']);

    const server = telemetry.span('GET /rolldice/{player}');
    const roll = telemetry.spans().find((s) =>
      s.name === 'roll' && s.spanContext().traceId === server.spanContext().traceId
    )!;
    const client = telemetry.spans().find((s) =>
      s.kind === SpanKind.CLIENT && s.spanContext().traceId === server.spanContext().traceId
    )!;
    assert.equal(roll.parentSpanContext?.spanId, server.spanContext().spanId);
    assert.equal(client.parentSpanContext?.spanId, roll.spanContext().spanId);
    assert.equal(client.attributes['url.full'], `${stub.url}/rolldice/Ren%C3%A9%20M`);
    assert.deepEqual(roll.attributes, { 'roll.value': 5 });
    assert.equal(
      stub.received[0]!.headers.traceparent,
      `00-${client.spanContext().traceId}-${client.spanContext().spanId}-03`,
    );
    assert.equal(stub.received[0]!.headers.baggage, 'player.tier=gold');

    const [record] = telemetry.logs.getFinishedLogRecords();
    assert.equal(record!.body, 'René M is rolling the dice');
    assert.deepEqual(record!.attributes, { result: 5 });
    assert.equal(record!.spanContext?.spanId, roll.spanContext().spanId);
    const rolls = await telemetry.metric('dice.rolls');
    assert.deepEqual(points(rolls).map((p) => [p.attributes['roll.value'], p.value]), [[5, 2]]);
  } finally {
    await stub.close();
  }
});

const UPSTREAM_FAILURES: { name: string; answer: Answer; reason: RegExp; errorType?: string }[] = [
  {
    name: 'answers 500',
    answer: (_, res) => ((res.statusCode = 500), res.end('boom')),
    reason: /answered 500 rather than 200$/,
    errorType: '500',
  },
  {
    name: 'answers 404',
    answer: (_, res) => ((res.statusCode = 404), res.end()),
    reason: /answered 404 rather than 200$/,
    errorType: '404',
  },
  {
    name: 'answers garbage',
    answer: (_, res) => res.end('<html>'),
    reason: /answered "<html>" rather than a roll from 1 to 6$/,
  },
  { name: 'answers 7', answer: (_, res) => res.end('7\n'), reason: /answered "7" rather than a roll from 1 to 6$/ },
  {
    name: 'answers a huge body',
    answer: (_, res) => res.end('6'.repeat(100_000)),
    reason: /rather than a roll from 1 to 6$/,
  },
  { name: 'is slow', answer: () => {}, reason: /did not answer within 300 ms$/, errorType: 'TimeoutError' },
  {
    name: 'stalls in the body',
    answer: (_, res) => res.writeHead(200).write('4'),
    reason: /did not answer within 300 ms$/,
  },
  { name: 'hangs up', answer: (req) => req.socket.destroy(), reason: /cannot be reached: /, errorType: 'TypeError' },
];

for (const c of UPSTREAM_FAILURES) {
  test(`createApp() answers 502 when the upstream ${c.name}`, async () => {
    const stub = await startStub(c.answer);
    try {
      const { telemetry, app } = upstreamApp(stub.url, 300);
      const started = performance.now();
      const response = await app(new Request('http://localhost:8080/rolldice/Alice'));
      assert.ok(performance.now() - started < 2_000, 'within the timeout, and then some');
      assert.equal(response.status, 502);
      const text = await response.text();
      assert.ok(text.startsWith(`Bad Gateway: the upstream at ${stub.url}/ `), text);
      assert.match(text.trimEnd(), c.reason);
      assert.equal(telemetry.span('GET /rolldice/{player}').status.code, SpanStatusCode.ERROR);
      assert.equal(telemetry.span('roll').status.code, SpanStatusCode.ERROR);
      const client = telemetry.spans().find((s) => s.kind === SpanKind.CLIENT);
      assert.ok(client, 'a client span');
      if (c.errorType) {
        assert.equal(client.status.code, SpanStatusCode.ERROR);
        assert.equal(client.attributes['error.type'], c.errorType);
      }
      assert.equal(telemetry.logs.getFinishedLogRecords().length, 0, 'no roll, no log record');
    } finally {
      await stub.close();
    }
  });
}

test('createApp() answers 502 quickly when nothing listens at the upstream', async () => {
  const url = `http://127.0.0.1:${await deadPort()}`;
  const { telemetry, app } = upstreamApp(url);
  const response = await app(new Request('http://localhost:8080/rolldice'));
  assert.equal(response.status, 502);
  assert.match(await response.text(), new RegExp(`^Bad Gateway: the upstream at ${url}/ cannot be reached: `));
  const client = telemetry.spans().find((s) => s.kind === SpanKind.CLIENT)!;
  assert.equal(client.attributes['error.type'], 'TypeError');
  assert.equal(client.status.code, SpanStatusCode.ERROR);
  assert.equal(trace.getActiveSpan(), undefined);
});

test('createApp() refuses an upstream that is not an absolute http URL', () => {
  const telemetry = createTestTelemetry();
  assert.throws(() => createApp(telemetry, { upstream: 'dice-b:8080' }), /expected an absolute http or https URL/);
  assert.throws(() => createApp(telemetry, { upstream: '/dice' }), /expected an absolute http or https URL/);
  assert.throws(() => createApp(telemetry, { upstream: 'ftp://dice' }), /expected an absolute http or https URL/);
});
