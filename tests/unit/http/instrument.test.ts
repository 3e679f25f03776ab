/**
 * instrument() and setRoute(): the server instrumentation as a user of any runtime wraps a
 * handler. No network: the handler is called as each runtime calls it, with its own argument.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { SamplingDecision, TracerProvider } from '@opentelemetry/sdk-trace';
import { instrument, setRoute } from '../../../mod.ts';
import { createTestTelemetry, points } from '../../_telemetry.ts';

type Handler = (request: Request, ...args: unknown[]) => Response | Promise<Response>;

function setup(handler: Handler, options: Parameters<typeof instrument>[1] = {}) {
  const telemetry = createTestTelemetry();
  return { telemetry, handler: instrument(handler, { ...telemetry, ...options }) };
}

/** Every attribute of every span, log record and metric point, as one string. */
async function everything(telemetry: ReturnType<typeof createTestTelemetry>): Promise<string> {
  const duration = await telemetry.metric('http.server.request.duration');
  return JSON.stringify({
    spans: telemetry.spans().map((s) => ({ name: s.name, attributes: s.attributes, events: s.events })),
    points: points(duration).map((p) => p.attributes),
  });
}

test('instrument() passes the runtime arguments and `this` through untouched, and returns the answer as it was', async () => {
  const seen: unknown[] = [];
  const answer = new Response('ok');
  const { handler } = setup(function (this: unknown, request, ...args) {
    seen.push(this, request, ...args);
    return answer;
  });
  const request = new Request('http://localhost/');
  const server = { requestIP: () => ({ address: '127.0.0.1', port: 1 }) };
  const env = { DB: 'binding' };
  const ctx = { waitUntil() {} };
  assert.equal(handler.call(server, request, env, ctx), answer, 'the same Response, synchronously');
  assert.equal(seen[0], server);
  assert.equal(seen[1], request);
  assert.equal(seen[2], env);
  assert.equal(seen[3], ctx);
  const deno = { remoteAddr: { transport: 'tcp', hostname: '::1', port: 2 }, completed: Promise.resolve() };
  seen.length = 0;
  await handler(request, deno);
  assert.equal(seen[2], deno, "Deno's info is the same object");
});

test('instrument() makes one SERVER span per request, active in the handler, with the stable HTTP conventions', async () => {
  let active: string | undefined;
  const { telemetry, handler } = setup(async (request) => {
    await new Promise((resolve) => setTimeout(resolve, 1));
    active = trace.getActiveSpan()?.spanContext().spanId;
    return new Response('ok', { status: request.url.endsWith('/missing') ? 404 : 200 });
  });
  await handler(
    new Request('http://dice.local:8080/rolldice?player=Alice', { headers: { 'user-agent': 'test/1' } }),
    { remoteAddr: { transport: 'tcp', hostname: '127.0.0.1', port: 40000 } },
  );
  const [span] = telemetry.spans();
  assert.equal(span!.kind, SpanKind.SERVER);
  assert.equal(span!.name, 'GET');
  assert.equal(active, span!.spanContext().spanId);
  assert.equal(span!.instrumentationScope.name, '@rolldice/otel');
  assert.deepEqual(span!.attributes, {
    'http.request.method': 'GET',
    'url.scheme': 'http',
    'url.path': '/rolldice',
    'url.query': 'player=Alice',
    'server.address': 'dice.local',
    'server.port': 8080,
    'user_agent.original': 'test/1',
    'client.address': '127.0.0.1',
    'network.peer.address': '127.0.0.1',
    'network.peer.port': 40000,
    'http.response.status_code': 200,
  });
});

test("instrument() reads the client from Deno's info, Bun's server and @hono/node-server's incoming, IPv4-mapped as IPv4", async () => {
  const request = () => new Request('http://localhost/');
  const { telemetry, handler } = setup(() => new Response('ok'));
  await handler(request(), { remoteAddr: { transport: 'tcp', hostname: '10.0.0.1', port: 1 } });
  await handler(request(), { requestIP: () => ({ address: '::ffff:10.0.0.2', family: 'IPv6', port: 2 }) });
  await handler(request(), {
    incoming: { socket: { remoteAddress: '::FFFF:10.0.0.3', remotePort: 3 }, httpVersion: '1.1' },
    outgoing: {},
  });
  await handler(request(), { remoteAddr: { transport: 'tcp', hostname: '::1', port: 4 } });
  await handler(request(), { DB: 'a Workers binding' });
  const peers = telemetry.spans().map((s) => [s.attributes['client.address'], s.attributes['network.peer.port']]);
  assert.deepEqual(peers, [['10.0.0.1', 1], ['10.0.0.2', 2], ['10.0.0.3', 3], ['::1', 4], [undefined, undefined]]);
  assert.equal(telemetry.spans()[2]!.attributes['network.protocol.version'], '1.1');
  assert.equal(telemetry.spans()[2]!.attributes['network.peer.address'], '10.0.0.3');
});

test('instrument() takes the route set after matching into the span name, http.route and the duration metric', async () => {
  const { telemetry, handler } = setup(async (request) => {
    await Promise.resolve();
    if (new URL(request.url).pathname.startsWith('/users/')) setRoute(request, '/users/:id');
    return new Response('ok');
  });
  await handler(new Request('http://localhost/users/42'));
  await handler(new Request('http://localhost/elsewhere'));
  const [routed, unrouted] = telemetry.spans();
  assert.equal(routed!.name, 'GET /users/:id');
  assert.equal(routed!.attributes['http.route'], '/users/:id');
  assert.equal(unrouted!.name, 'GET');
  assert.equal(unrouted!.attributes['http.route'], undefined);
  const routes = points(await telemetry.metric('http.server.request.duration')).map((p) => p.attributes['http.route']);
  assert.deepEqual(routes.sort(), ['/users/:id', undefined]);
});

test('instrument() names a span with a route given up front from its start, for samplers', async () => {
  const { telemetry, handler } = setup(() => new Response('ok'), { route: '/rolldice' });
  await handler(new Request('http://localhost/rolldice'));
  assert.equal(telemetry.spans()[0]!.name, 'GET /rolldice');
  assert.equal(telemetry.spans()[0]!.attributes['http.route'], '/rolldice');
});

test('instrument() puts a signature from the query nowhere in the telemetry', async () => {
  const { telemetry, handler } = setup((request) => {
    setRoute(request, '/rolldice');
    return new Response('ok');
  });
  await handler(new Request('http://localhost/rolldice?sig=SECRET&player=Alice&X-Goog-Signature=SECRET2'));
  await handler(new Request('http://localhost/rolldice?AWSAccessKeyId=SECRET3&Signature=SECRET4'));
  const spans = telemetry.spans();
  assert.equal(spans[0]!.attributes['url.query'], 'sig=REDACTED&player=Alice&X-Goog-Signature=REDACTED');
  assert.equal(spans[1]!.attributes['url.query'], 'AWSAccessKeyId=REDACTED&Signature=REDACTED');
  assert.doesNotMatch(await everything(telemetry), /SECRET/);
});

test('instrument() records a thrown error and throws it on, as the runtime would see it without instrumentation', async () => {
  const boom = new TypeError('boom');
  const { telemetry, handler } = setup(async () => {
    await Promise.resolve();
    throw boom;
  });
  await assert.rejects(() => handler(new Request('http://localhost/')) as Promise<Response>, (e) => e === boom);
  const sync = setup(() => {
    throw boom;
  });
  assert.throws(() => sync.handler(new Request('http://localhost/')), (e) => e === boom);
  const [span] = telemetry.spans();
  assert.equal(span!.status.code, SpanStatusCode.ERROR);
  assert.equal(span!.attributes['error.type'], 'TypeError');
  assert.equal(span!.attributes['http.response.status_code'], undefined, 'the runtime answers, not us');
  assert.equal(span!.events[0]!.name, 'exception');
  const [point] = points(await telemetry.metric('http.server.request.duration'));
  assert.equal(point!.attributes['error.type'], 'TypeError');
});

test('instrument() sends what onError answers instead of throwing', async () => {
  const { telemetry, handler } = setup(() => {
    throw new RangeError('bad');
  }, { onError: () => new Response('sorry', { status: 503 }) });
  const response = await handler(new Request('http://localhost/'));
  assert.equal(response.status, 503);
  const [span] = telemetry.spans();
  assert.equal(span!.attributes['http.response.status_code'], 503);
  assert.equal(span!.attributes['error.type'], 'RangeError');
});

test('instrument() marks 5xx answers as errors and leaves 4xx unset', async () => {
  const { telemetry, handler } = setup((request) =>
    new Response(null, { status: request.url.endsWith('/a') ? 502 : 404 })
  );
  await handler(new Request('http://localhost/a'));
  await handler(new Request('http://localhost/b'));
  const [bad, missing] = telemetry.spans();
  assert.equal(bad!.status.code, SpanStatusCode.ERROR);
  assert.equal(bad!.attributes['error.type'], '502');
  assert.equal(missing!.status.code, SpanStatusCode.UNSET);
});

test('instrument() records the body size histograms only when asked, from content-length', async () => {
  const answer = () => new Response('four', { headers: { 'content-length': '4' } });
  const request = () =>
    new Request('http://localhost/', { method: 'POST', body: 'hello', headers: { 'content-length': '5' } });
  const off = setup(answer);
  await off.handler(request());
  assert.equal(await off.telemetry.metric('http.server.request.body.size'), undefined);
  const on = setup(answer, { bodySizeMetrics: true });
  await on.handler(request());
  const requestSize = await on.telemetry.metric('http.server.request.body.size');
  const responseSize = await on.telemetry.metric('http.server.response.body.size');
  assert.equal(requestSize?.descriptor.unit, 'By');
  assert.equal((points(requestSize)[0]!.value as { sum: number }).sum, 5);
  assert.equal((points(responseSize)[0]!.value as { sum: number }).sum, 4);
  assert.equal(points(responseSize)[0]!.attributes['http.response.status_code'], 200);
});

test('instrument() adds the route to a SERVER span that is already active instead of making a second one', async () => {
  const { telemetry, handler } = setup((request) => {
    setRoute(request, '/users/:id');
    return new Response('ok');
  });
  // As another SDK's node:http instrumentation leaves it: its SERVER span, active.
  const outer = telemetry.tracerProvider.getTracer('other-sdk').startSpan('GET', { kind: SpanKind.SERVER });
  await context.with(trace.setSpan(context.active(), outer), () => handler(new Request('http://localhost/users/1')));
  outer.end();
  const spans = telemetry.spans();
  assert.equal(spans.length, 1);
  assert.equal(spans[0]!.name, 'GET /users/:id');
  assert.equal(spans[0]!.attributes['http.route'], '/users/:id');
});

test('instrument() keeps concurrent requests apart', async () => {
  const { telemetry, handler } = setup(async (request) => {
    const id = new URL(request.url).searchParams.get('id')!;
    await new Promise((resolve) => setTimeout(resolve, Number(id) % 3));
    setRoute(request, `/route/${id}`);
    return new Response(trace.getActiveSpan()!.spanContext().spanId);
  });
  const bodies = await Promise.all(
    Array.from({ length: 20 }, async (_, id) => (await handler(new Request(`http://localhost/?id=${id}`))).text()),
  );
  const spans = telemetry.spans();
  for (const [id, body] of bodies.entries()) {
    const span = spans.find((s) => s.spanContext().spanId === body)!;
    assert.equal(span.name, `GET /route/${id}`);
  }
});

test("setRoute() names the active span of a request instrument() does not serve, as Deno's built-in telemetry asks", () => {
  const telemetry = createTestTelemetry();
  const span = telemetry.tracerProvider.getTracer('runtime').startSpan('GET', { kind: SpanKind.SERVER });
  context.with(trace.setSpan(context.active(), span), () => setRoute(new Request('http://localhost/'), '/books/:id'));
  span.end();
  assert.equal(telemetry.spans()[0]!.name, 'GET /books/:id');
  assert.equal(telemetry.spans()[0]!.attributes['http.route'], '/books/:id');
});

test('setRoute() does nothing without a request being served or an active span', () => {
  setRoute(new Request('http://localhost/'), '/anything');
});

test('instrument() gives a sampler the request attributes at span creation, and no Opt-In client.port', async () => {
  const seen: Record<string, unknown>[] = [];
  const tracerProvider = new TracerProvider({
    sampler: {
      shouldSample: (_context, _traceId, _name, _kind, attributes) => {
        seen.push({ ...attributes });
        return { decision: SamplingDecision.RECORD_AND_SAMPLED };
      },
      toString: () => 'recording',
    },
  });
  const handler = instrument((_request: Request, _info: unknown) => new Response('ok'), {
    tracerProvider,
    route: '/books/:id',
  });
  await handler(new Request('https://shop.example:8443/books/1?q=x', { headers: { 'user-agent': 'ua/1' } }), {
    remoteAddr: { transport: 'tcp', hostname: '192.0.2.4', port: 50000 },
  });
  assert.equal(seen[0]?.['client.port'], undefined, 'Opt-In on server spans');
  assert.deepEqual(seen, [{
    'http.request.method': 'GET',
    'url.scheme': 'https',
    'url.path': '/books/1',
    'url.query': 'q=x',
    'server.address': 'shop.example',
    'server.port': 8443,
    'http.route': '/books/:id',
    'user_agent.original': 'ua/1',
    'client.address': '192.0.2.4',
    'network.peer.address': '192.0.2.4',
    'network.peer.port': 50000,
  }]);
});
