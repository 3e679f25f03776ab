import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diag, DiagLogLevel, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import {
  createHttpServerInstrumentation,
  type FetchHandler,
  type InstrumentHandlerOptions,
} from '../../../src/http/server.ts';
import { createTestTelemetry } from '../../_telemetry.ts';

function instrumentHandler(handler: FetchHandler, options: InstrumentHandlerOptions) {
  return createHttpServerInstrumentation(options).instrument(handler, options.route);
}

function instrument(handler: (request: Request) => Response | Promise<Response>, route = '/things/{id}') {
  const telemetry = createTestTelemetry();
  return { telemetry, handler: instrumentHandler(handler, { ...telemetry, route }) };
}

test('createHttpServerInstrumentation() turns a throwing handler into a 500 and an ERROR span', async () => {
  const { telemetry, handler } = instrument(() => {
    throw new TypeError('bad thing');
  });
  const logged: string[] = [];
  const line = (message: string) => void logged.push(message);
  diag.setLogger({ error: line, warn: line, info: line, debug: line, verbose: line }, DiagLogLevel.ERROR);
  try {
    const response = await handler(new Request('http://localhost/things/1'));
    assert.equal(response.status, 500);
    assert.equal(await response.text(), 'Internal Server Error\n');
  } finally {
    diag.disable();
  }
  const span = telemetry.span('GET /things/{id}');
  assert.equal(span.status.code, SpanStatusCode.ERROR);
  assert.equal(span.status.message, 'bad thing');
  assert.equal(span.attributes['error.type'], 'TypeError');
  assert.equal(span.attributes['http.response.status_code'], 500);
  assert.equal(span.events[0]?.name, 'exception');
  assert.deepEqual(logged, ['GET /things/{id} failed: bad thing'], 'one diagnostic line per failure');
});

test('instrumentHandler() marks 5xx answers as errors and leaves 4xx unset', async () => {
  // The handler answers the status its path names, without throwing.
  const { telemetry, handler } = instrument((request) =>
    new Response(null, { status: Number(new URL(request.url).pathname.split('/')[2]) })
  );
  for (const status of [500, 503, 599, 404, 499]) await handler(new Request(`http://localhost/things/${status}`));
  const { ERROR, UNSET } = SpanStatusCode;
  assert.deepEqual(
    telemetry.spans().map((
      s,
    ) => [s.attributes['http.response.status_code'], s.status.code, s.attributes['error.type']]),
    [[500, ERROR, '500'], [503, ERROR, '503'], [599, ERROR, '599'], [404, UNSET, undefined], [499, UNSET, undefined]],
  );
});

test('instrumentHandler() keeps the server span active across awaits in the handler', async () => {
  // Each request waits at a gate of its own; the gates open in reverse order below, so the
  // handlers resume interleaved, each of them after the others' spans were made active.
  const gates: (() => void)[] = [];
  const { telemetry, handler } = instrument(async () => {
    await new Promise<void>((resolve) => gates.push(resolve));
    const child = trace.getTracer('t').startSpan('child');
    child.end();
    await Promise.resolve();
    return new Response(trace.getActiveSpan()?.spanContext().spanId ?? 'none');
  });
  // A tracer from the test provider, made active through the global API below.
  trace.setGlobalTracerProvider(telemetry.tracerProvider);
  const pending = Array.from(
    { length: 50 },
    async () => (await handler(new Request('http://localhost/things/x'))).text(),
  );
  assert.equal(gates.length, 50, 'every handler runs up to its gate at once');
  for (const open of gates.reverse()) open();
  const bodies = await Promise.all(pending);
  const servers = telemetry.spans().filter((s) => s.kind === SpanKind.SERVER);
  assert.deepEqual(new Set(bodies), new Set(servers.map((s) => s.spanContext().spanId)));
  for (const child of telemetry.spans().filter((s) => s.name === 'child')) {
    assert.ok(servers.some((s) => s.spanContext().spanId === child.parentSpanContext?.spanId));
  }
  trace.disable();
});

test('instrumentHandler() hands the handler the request context, active or not as asked', async () => {
  for (const activateContext of [true, false]) {
    const telemetry = createTestTelemetry();
    const seen: { given?: string; active?: string }[] = [];
    const handler = instrumentHandler(
      (_request, info) => {
        // A handler that passes the context on itself, as the dice service does.
        const child = telemetry.tracerProvider.getTracer('t').startSpan('child', undefined, info?.context);
        child.end();
        seen.push({
          given: info?.context && trace.getSpan(info.context)?.spanContext().spanId,
          active: trace.getActiveSpan()?.spanContext().spanId,
        });
        return new Response('ok');
      },
      { ...telemetry, route: '/things/{id}', activateContext },
    );
    trace.setGlobalTracerProvider(telemetry.tracerProvider);
    await handler(new Request('http://localhost/things/1'), { clientAddress: '127.0.0.1' });
    trace.disable();
    const server = telemetry.span('GET /things/{id}');
    const child = telemetry.span('child');
    assert.equal(seen[0]?.given, server.spanContext().spanId, `activateContext: ${activateContext}`);
    assert.equal(seen[0]?.active, activateContext ? server.spanContext().spanId : undefined);
    assert.equal(child.parentSpanContext?.spanId, server.spanContext().spanId);
    assert.equal(server.attributes['client.address'], '127.0.0.1', 'the rest of the info is kept');
  }
});

test('instrumentHandler() records the query and an IPv6 server address without brackets', async () => {
  const { telemetry, handler } = instrument(() => new Response('ok'));
  await handler(new Request('http://[::1]:9000/things/1?debug=1'));
  const span = telemetry.spans()[0]!;
  assert.equal(span.attributes['url.query'], 'debug=1');
  assert.equal(span.attributes['server.address'], '::1');
  assert.equal(span.attributes['server.port'], 9000);
});

test('createHttpServerInstrumentation() takes the response body size from responseBodySize, else from Content-Length', async () => {
  const telemetry = createTestTelemetry();
  const known = new WeakMap<Response, number>();
  const handler = instrumentHandler((request) => {
    const response = new Response('four', { headers: { 'content-length': '4' } });
    if (request.url.endsWith('/known')) {
      // As a router that made the answer knows its size: its headers are never read.
      Object.defineProperty(response, 'headers', {
        get: () => assert.fail('the headers were read'),
      });
      known.set(response, 7);
    }
    return response;
  }, { ...telemetry, route: '/x', bodySizeMetrics: true, responseBodySize: (response) => known.get(response) });
  await handler(new Request('http://localhost/known'));
  await handler(new Request('http://localhost/unknown'));
  const metric = await telemetry.metric('http.server.response.body.size');
  const value = metric!.dataPoints[0]!.value as { count: number; sum: number };
  assert.deepEqual([value.count, value.sum], [2, 7 + 4]);
});
