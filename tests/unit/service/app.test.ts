import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import { createApp } from '../../../src/service/app.ts';
import { textBodySize, textResponse } from '../../../src/service/router.ts';
import { MAX_PLAYER_NAME_LENGTH } from '../../../src/service/dice.ts';
import { currentRuntime } from '../../_runtimes.ts';
import { type Answer, freePort, startStub } from '../../_http-stub.ts';
import { createTestTelemetry, points, sumBy } from '../../_telemetry.ts';

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';

function setup(random?: () => number) {
  const telemetry = createTestTelemetry();
  return { telemetry, app: createApp(telemetry, { random }) };
}

function get(path: string, init: RequestInit = {}): Request {
  return new Request(`http://localhost:8080${path}`, init);
}

test('createApp() answers GET /rolldice/{player} with a roll from 1 to 6', async () => {
  for (const [random, expected] of [[0, '1\n'], [0.5, '4\n'], [0.9999, '6\n']] as const) {
    const { app } = setup(() => random);
    const response = await app(get('/rolldice/Alice'));
    assert.equal(response.status, 200);
    assert.equal(response.headers.get('content-type'), 'text/plain; charset=utf-8');
    assert.equal(await response.text(), expected);
  }
});

test('createApp() emits a server span and a child roll span for /rolldice/{player}', async () => {
  const { telemetry, app } = setup(() => 0.4);
  await app(get('/rolldice/Alice', { headers: { 'user-agent': 'test-agent/1.0' } }), {
    clientAddress: '127.0.0.1',
    clientPort: 50000,
    protocolVersion: '1.1',
  });
  const server = telemetry.span('GET /rolldice/{player}');
  const roll = telemetry.span('roll');
  assert.equal(server.kind, SpanKind.SERVER);
  assert.equal(roll.kind, SpanKind.INTERNAL);
  assert.equal(roll.spanContext().traceId, server.spanContext().traceId);
  assert.equal(roll.parentSpanContext?.spanId, server.spanContext().spanId);
  assert.equal(server.parentSpanContext, undefined);
  assert.deepEqual(roll.attributes, { 'roll.value': 3 });
  assert.equal(roll.instrumentationScope.name, 'rolldice');
  assert.deepEqual(server.attributes, {
    'http.request.method': 'GET',
    'url.scheme': 'http',
    'url.path': '/rolldice/Alice',
    'server.address': 'localhost',
    'server.port': 8080,
    'http.route': '/rolldice/{player}',
    'user_agent.original': 'test-agent/1.0',
    'network.protocol.version': '1.1',
    'client.address': '127.0.0.1',
    'network.peer.address': '127.0.0.1',
    'network.peer.port': 50000,
    'http.response.status_code': 200,
  });
  assert.equal(server.status.code, SpanStatusCode.UNSET);
});

test('createApp() logs who rolls, with the result, inside the roll span', async () => {
  const { telemetry, app } = setup(() => 0.99);
  await app(get('/rolldice/Alice'));
  await app(get('/rolldice'));
  const [alice, anonymous] = telemetry.logs.getFinishedLogRecords();
  const roll = telemetry.spans().find((s) => s.name === 'roll')!;
  assert.equal(alice!.body, 'Alice is rolling the dice');
  assert.equal(alice!.severityNumber, 9);
  assert.equal(alice!.severityText, 'INFO');
  assert.deepEqual(alice!.attributes, { result: 6 });
  assert.equal(alice!.instrumentationScope.name, 'rolldice');
  assert.equal(alice!.spanContext?.spanId, roll.spanContext().spanId);
  assert.equal(alice!.spanContext?.traceId, roll.spanContext().traceId);
  assert.equal(anonymous!.body, 'Anonymous player is rolling the dice');
});

test('createApp() counts rolls on dice.rolls by roll.value', async () => {
  const rolls = [0, 0.2, 0.2, 0.99, 0.99, 0.99];
  let i = 0;
  const { telemetry, app } = setup(() => rolls[i++ % rolls.length]!);
  for (let n = 0; n < rolls.length; n++) await app(get('/rolldice'));
  const metric = await telemetry.metric('dice.rolls');
  assert.equal(metric?.descriptor.unit, '{roll}');
  assert.equal(metric?.descriptor.description, 'The number of rolls by roll value');
  assert.deepEqual([...sumBy(metric, 'roll.value')].sort(), [[1, 1], [2, 2], [6, 3]]);
});

test("createApp() records each answer's body size in bytes, the seed's response_content_length, by route", async () => {
  const { telemetry, app } = setup();
  await app(get('/rolldice'));
  await app(get('/rolldice/Bob'));
  await app(get('/rolldice/Bob'));
  const metric = await telemetry.metric('http.server.response.body.size');
  assert.equal(metric?.descriptor.unit, 'By');
  const byRoute = new Map(
    metric!.dataPoints.map((p) => [p.attributes['http.route'], p.value as { count: number; sum: number }]),
  );
  // A roll is one digit and a newline.
  assert.deepEqual(byRoute.get('/rolldice'), { ...byRoute.get('/rolldice'), count: 1, sum: 2 });
  assert.deepEqual(byRoute.get('/rolldice/{player}'), { ...byRoute.get('/rolldice/{player}'), count: 2, sum: 4 });
  assert.equal(await telemetry.metric('http.server.request.body.size'), undefined, 'a GET has no body to measure');
});

test('textResponse() gives the Content-Length of its body in UTF-8 bytes, lone surrogates included', async () => {
  for (const text of ['6', 'é', '€', '😀', 'a\uD800b', '\uD800é', 'x\uDC00', 'end\uD83D']) {
    const answer = textResponse(200, text);
    const bytes = new Uint8Array(await answer.arrayBuffer()).byteLength;
    assert.equal(answer.headers.get('content-length'), String(bytes), JSON.stringify(text));
    assert.equal(textBodySize(answer), bytes);
  }
});

test('createApp() measures a HEAD answer as empty, whatever its Content-Length says', async () => {
  const { telemetry, app } = setup();
  const head = await app(get('/rolldice', { method: 'HEAD' }));
  assert.equal(head.headers.get('content-length'), '2');
  const metric = await telemetry.metric('http.server.response.body.size');
  assert.equal((metric!.dataPoints[0]!.value as { sum: number }).sum, 0);
});

test('createApp() records http.server.request.duration in seconds with the advised buckets', async () => {
  const { telemetry, app } = setup();
  await app(get('/rolldice'));
  await app(get('/rolldice/Bob'));
  await app(get('/nope'));
  const metric = await telemetry.metric('http.server.request.duration');
  assert.equal(metric?.descriptor.unit, 's');
  const byRoute = new Map(metric!.dataPoints.map((p) => [p.attributes['http.route'], p]));
  assert.deepEqual(byRoute.get('/rolldice')?.attributes, {
    'http.request.method': 'GET',
    'url.scheme': 'http',
    'http.response.status_code': 200,
    'http.route': '/rolldice',
  });
  const point = byRoute.get('/rolldice/{player}')!.value as {
    count: number;
    sum: number;
    buckets: { boundaries: number[] };
  };
  assert.equal(point.count, 1);
  assert.ok(point.sum > 0 && point.sum < 1, `duration ${point.sum} s`);
  assert.deepEqual(point.buckets.boundaries, [
    0.005,
    0.01,
    0.025,
    0.05,
    0.075,
    0.1,
    0.25,
    0.5,
    0.75,
    1,
    2.5,
    5,
    7.5,
    10,
  ]);
  assert.equal(byRoute.get(undefined)?.attributes['http.response.status_code'], 404);
});

test('createApp() continues the trace of an incoming traceparent and keeps tracestate', async () => {
  const { telemetry, app } = setup();
  await app(get('/rolldice/Alice', {
    headers: { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01`, tracestate: 'vendor=opaque' },
  }));
  const server = telemetry.span('GET /rolldice/{player}');
  assert.equal(server.spanContext().traceId, TRACE_ID);
  assert.equal(server.parentSpanContext?.spanId, PARENT_ID);
  assert.equal(server.parentSpanContext?.isRemote, true);
  assert.equal(server.spanContext().traceState?.serialize(), 'vendor=opaque');
});

test('createApp() starts a new trace when traceparent is garbage', async () => {
  const { telemetry, app } = setup();
  const response = await app(get('/rolldice', { headers: { traceparent: 'garbage-0000' } }));
  assert.equal(response.status, 200);
  const server = telemetry.span('GET /rolldice');
  assert.equal(server.parentSpanContext, undefined);
  assert.match(server.spanContext().traceId, /^[0-9a-f]{32}$/);
  assert.notEqual(server.spanContext().traceId, '0'.repeat(32));
});

test('createApp() serves /rolldice/ like /rolldice under its own route', async () => {
  const { telemetry, app } = setup();
  const response = await app(get('/rolldice/'));
  assert.equal(response.status, 200);
  assert.equal(telemetry.span('GET /rolldice/').attributes['http.route'], '/rolldice/');
  assert.equal(telemetry.logs.getFinishedLogRecords()[0]!.body, 'Anonymous player is rolling the dice');
});

test('createApp() percent-decodes the player', async () => {
  const { telemetry, app } = setup();
  await app(get('/rolldice/Ren%C3%A9%20M'));
  assert.equal(telemetry.logs.getFinishedLogRecords()[0]!.body, 'René M is rolling the dice');
  assert.equal(telemetry.span('GET /rolldice/{player}').attributes['url.path'], '/rolldice/Ren%C3%A9%20M');
});

test('createApp() answers 404 to unknown paths with a span named after the method only', async () => {
  const { telemetry, app } = setup();
  for (const path of ['/', '/rolldice/Alice/extra', '/rolldicex', '/rolldice//']) {
    const response = await app(get(path));
    assert.equal(response.status, 404, path);
    assert.equal(await response.text(), 'Not Found\n');
  }
  const spans = telemetry.spans();
  assert.equal(spans.length, 4);
  for (const span of spans) {
    assert.equal(span.name, 'GET');
    assert.equal(span.attributes['http.route'], undefined);
    assert.equal(span.attributes['http.response.status_code'], 404);
    assert.equal(span.status.code, SpanStatusCode.UNSET);
  }
});

test('createApp() answers 405 with Allow to other methods', async () => {
  const { telemetry, app } = setup();
  for (const method of ['POST', 'PUT', 'DELETE', 'PATCH']) {
    const response = await app(get('/rolldice/Alice', { method, body: method === 'DELETE' ? undefined : 'x' }));
    assert.equal(response.status, 405, method);
    assert.equal(response.headers.get('allow'), 'GET, HEAD, OPTIONS');
  }
  assert.equal(telemetry.spans().filter((s) => s.name === 'roll').length, 0);
  assert.equal(telemetry.spans()[0]!.name, 'POST /rolldice/{player}');
});

test('createApp() reports an unknown method as _OTHER and keeps the original', {
  skip: currentRuntime === 'bun' && "Bun's Request constructor turns unknown methods into GET (bun 1.4.5)",
}, async () => {
  const { telemetry, app } = setup();
  const response = await app(get('/rolldice', { method: 'BREW' }));
  assert.equal(response.status, 405);
  const span = telemetry.spans()[0]!;
  assert.equal(span.name, 'HTTP /rolldice');
  assert.equal(span.attributes['http.request.method'], '_OTHER');
  assert.equal(span.attributes['http.request.method_original'], 'BREW');
});

test('createApp() answers HEAD like GET without a body, and OPTIONS with Allow', async () => {
  const { app } = setup();
  const head = await app(get('/rolldice', { method: 'HEAD' }));
  assert.equal(head.status, 200);
  assert.equal(head.headers.get('content-type'), 'text/plain; charset=utf-8');
  assert.equal(head.body, null);
  const options = await app(get('/rolldice', { method: 'OPTIONS' }));
  assert.equal(options.status, 204);
  assert.equal(options.headers.get('allow'), 'GET, HEAD, OPTIONS');
});

test('createApp() answers 400 to a malformed percent-encoding and to an over-long player', async () => {
  const { telemetry, app } = setup();
  for (const path of ['/rolldice/%E0%A4%A', '/rolldice/%', '/rolldice/%zz', `/rolldice/${'a'.repeat(10_000)}`]) {
    const response = await app(get(path));
    assert.equal(response.status, 400, path.slice(0, 30));
    assert.match(await response.text(), /^Bad Request: /);
  }
  assert.equal(telemetry.spans().filter((s) => s.name === 'roll').length, 0);
  for (const span of telemetry.spans()) assert.equal(span.attributes['http.response.status_code'], 400);
});

test('createApp() rolls for a player name of exactly MAX_PLAYER_NAME_LENGTH characters and refuses one more', async () => {
  const { telemetry, app } = setup(() => 0);
  // Counted after percent-decoding: 'é' is one character, sent as six.
  const longest = 'é'.repeat(MAX_PLAYER_NAME_LENGTH);
  const fits = await app(get(`/rolldice/${encodeURIComponent(longest)}`));
  assert.equal(fits.status, 200);
  assert.equal(await fits.text(), '1\n');
  const tooLong = await app(get(`/rolldice/${encodeURIComponent(`${longest}é`)}`));
  assert.equal(tooLong.status, 400);
  assert.equal(
    await tooLong.text(),
    `Bad Request: the player name is longer than ${MAX_PLAYER_NAME_LENGTH} characters\n`,
  );
  assert.equal(telemetry.spans().filter((s) => s.name === 'roll').length, 1);
  assert.equal(telemetry.logs.getFinishedLogRecords()[0]?.body, `${longest} is rolling the dice`);
});

test('createApp() gives every concurrent request its own trace', async () => {
  const { telemetry, app } = setup();
  const responses = await Promise.all(Array.from({ length: 50 }, (_, i) => app(get(`/rolldice/p${i}`))));
  assert.ok(responses.every((r) => r.status === 200));
  const servers = telemetry.spans().filter((s) => s.kind === SpanKind.SERVER);
  const rolls = telemetry.spans().filter((s) => s.name === 'roll');
  assert.equal(new Set(servers.map((s) => s.spanContext().traceId)).size, 50);
  for (const roll of rolls) {
    const parent = servers.find((s) => s.spanContext().spanId === roll.parentSpanContext?.spanId);
    assert.ok(parent, 'every roll has a server parent');
    assert.equal(parent.spanContext().traceId, roll.spanContext().traceId);
  }
  assert.equal(trace.getActiveSpan(), undefined);
});

// The upstream mode of createApp(): the roll comes from another dice service.

function upstreamApp(upstream: string, upstreamTimeoutMillis = 2_000) {
  const telemetry = createTestTelemetry();
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
  const url = `http://127.0.0.1:${await freePort()}`;
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
