/**
 * The Hono middleware: the route comes from the route Hono matched, and the runtime's own
 * argument reaches Hono untouched, so Hono's getConnInfo keeps working.
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Hono } from 'hono';
import { instrument } from '../../mod.ts';
import { httpRoute } from '../../src/hono.ts';
import { createTestTelemetry, points } from '../_telemetry.ts';

function app() {
  const app = new Hono();
  app.onError((_, c) => c.text('Internal Server Error', 500));
  app.use(httpRoute());
  app.use('/admin/*', async (c, next) => {
    if (c.req.header('authorization') === undefined) return c.text('Unauthorized', 401);
    await next();
  });
  app.get('/rolldice/:player', (c) => c.text('4'));
  app.get('/admin/users/:id', (c) => c.text('user'));
  app.get('/boom', () => {
    throw new Error('boom');
  });
  const api = new Hono();
  api.get('/items/:id', (c) => c.text('item'));
  app.route('/api', api);
  return app;
}

test("httpRoute() names the span and the duration point after Hono's matched route", async () => {
  const telemetry = createTestTelemetry();
  const fetch = instrument(app().fetch, telemetry);
  assert.equal(await (await fetch(new Request('http://localhost/rolldice/Alice'))).text(), '4');
  await fetch(new Request('http://localhost/api/items/7'));
  const names = telemetry.spans().map((s) => s.name);
  assert.deepEqual(names, ['GET /rolldice/:player', 'GET /api/items/:id']);
  assert.equal(telemetry.spans()[0]!.attributes['http.route'], '/rolldice/:player');
  const routes = points(await telemetry.metric('http.server.request.duration')).map((p) => p.attributes['http.route']);
  assert.deepEqual(routes.sort(), ['/api/items/:id', '/rolldice/:player']);
});

test('httpRoute() gives a request no route matched no route, and one a middleware refused the endpoint matched', async () => {
  const telemetry = createTestTelemetry();
  const fetch = instrument(app().fetch, telemetry);
  assert.equal((await fetch(new Request('http://localhost/nowhere'))).status, 404);
  assert.equal((await fetch(new Request('http://localhost/admin/users/1'))).status, 401);
  const [missing, refused] = telemetry.spans();
  assert.equal(missing!.name, 'GET');
  assert.equal(missing!.attributes['http.route'], undefined);
  assert.equal(missing!.attributes['http.response.status_code'], 404);
  assert.equal(refused!.name, 'GET /admin/users/:id');
});

test("httpRoute() keeps the route of a handler that threw, answered 500 by Hono's error handler", async () => {
  const telemetry = createTestTelemetry();
  const fetch = instrument(app().fetch, telemetry);
  assert.equal((await fetch(new Request('http://localhost/boom'))).status, 500);
  const [span] = telemetry.spans();
  assert.equal(span!.name, 'GET /boom');
  assert.equal(span!.attributes['error.type'], '500');
});

test("httpRoute() hands Hono the runtime's own argument, which getConnInfo reads (the examples check it on each runtime)", async () => {
  const telemetry = createTestTelemetry();
  const seen: unknown[] = [];
  const hono = new Hono();
  hono.get('/', (c) => {
    seen.push(c.env);
    return c.text('ok');
  });
  const fetch = instrument(hono.fetch, telemetry);
  const server = { requestIP: () => ({ address: '10.1.1.1', family: 'IPv4', port: 5 }) };
  const info = { remoteAddr: { transport: 'tcp', hostname: '10.2.2.2', port: 6 } };
  await fetch(new Request('http://localhost/'), server);
  await fetch(new Request('http://localhost/'), info);
  assert.equal(seen[0], server);
  assert.equal(seen[1], info);
  assert.deepEqual(telemetry.spans().map((s) => s.attributes['client.address']), ['10.1.1.1', '10.2.2.2']);
});
