/**
 * Each runtime's adapter as a real process with the console exporters: one session per
 * runtime sends traced, anonymous, concurrent and bad requests, then SIGTERM; the tests
 * assert on what the process answered and printed.
 */
import assert from 'node:assert/strict';
import { createServer } from 'node:net';
import { afterEach, test } from 'node:test';
import { type RuntimeName, RUNTIMES } from '../_runtimes.ts';
import type { FlatMetric } from '../_otlp-decode.ts';
import { attributesOf, collect, type Printed, startService, stopAllServices } from './_service.ts';

// Whatever a failing test left running.
afterEach(() => stopAllServices());

const TRACE_ID = '4bf92f3577b34da6a3ce929d0e0e4736';
const PARENT_ID = '00f067aa0ba902b7';
const CONCURRENT = 50;

interface BadCase {
  name: string;
  path: string;
  init?: RequestInit;
  status: number;
}

const BAD_CASES: BadCase[] = [
  { name: 'unknown path', path: '/nope', status: 404 },
  { name: 'nested path', path: '/rolldice/a/b', status: 404 },
  { name: 'POST', path: '/rolldice', init: { method: 'POST', body: 'x' }, status: 405 },
  { name: 'DELETE', path: '/rolldice/Alice', init: { method: 'DELETE' }, status: 405 },
  { name: 'broken percent-encoding', path: '/rolldice/%E0%A4%A', status: 400 },
  { name: 'lone percent', path: '/rolldice/%zz', status: 400 },
  { name: '10 kB player name', path: `/rolldice/${'x'.repeat(10_000)}`, status: 400 },
];

interface Session {
  traced: Response;
  tracedBody: string;
  anonymousBody: string;
  garbageStatus: number;
  head: Response;
  concurrentBodies: string[];
  bad: Map<string, Response>;
  exitCode: number | string;
  stderr: string;
  printed: Printed;
  /** Requests that rolled the dice. */
  rolls: number;
  requests: number;
}

const sessions = new Map<RuntimeName, Promise<Session>>();

function session(runtime: RuntimeName): Promise<Session> {
  let s = sessions.get(runtime);
  if (!s) sessions.set(runtime, s = runSession(runtime));
  return s;
}

async function runSession(runtime: RuntimeName): Promise<Session> {
  const service = await startService(runtime, {
    env: { OTEL_RESOURCE_ATTRIBUTES: 'service.name=dice,service.version=0.1.0' },
  });
  try {
    const traced = await fetch(`${service.url}/rolldice/Alice`, {
      headers: { traceparent: `00-${TRACE_ID}-${PARENT_ID}-01`, tracestate: 'vendor=opaque', 'user-agent': 'e2e/1.0' },
    });
    const tracedBody = await traced.text();
    const anonymousBody = await (await fetch(`${service.url}/rolldice`)).text();
    const garbage = await fetch(`${service.url}/rolldice/garbage`, {
      headers: { traceparent: 'zz-not-a-traceparent' },
    });
    await garbage.body?.cancel();
    const head = await fetch(`${service.url}/rolldice`, { method: 'HEAD' });
    const concurrentBodies = await Promise.all(
      Array.from({ length: CONCURRENT }, async (_, i) => (await fetch(`${service.url}/rolldice/p${i}`)).text()),
    );
    const bad = new Map<string, Response>();
    for (const c of BAD_CASES) {
      const response = await fetch(`${service.url}${c.path}`, c.init);
      await response.text();
      bad.set(c.name, response);
    }
    service.signal('SIGTERM');
    const exitCode = await service.exited;
    return {
      traced,
      tracedBody,
      anonymousBody,
      garbageStatus: garbage.status,
      head,
      concurrentBodies,
      bad,
      exitCode,
      stderr: service.stderr(),
      printed: collect(service.stdout()),
      rolls: 4 + CONCURRENT, // traced, anonymous, garbage, HEAD, concurrent
      requests: 4 + CONCURRENT + BAD_CASES.length,
    };
  } catch (error) {
    service.signal('SIGKILL');
    throw error;
  }
}

const serverSpans = (p: Printed) => p.spans.filter((s) => s.kind === 2);

/** The cumulative points of the last export of a metric. */
function lastMetric(p: Printed, name: string): FlatMetric | undefined {
  return p.metrics.filter((m) => m.name === name).at(-1);
}

for (const runtime of RUNTIMES) {
  test(`${runtime}: the service answers rolls of 1 to 6 and exits 0 on SIGTERM`, { timeout: 60_000 }, async () => {
    const s = await session(runtime);
    assert.equal(s.traced.status, 200);
    assert.equal(s.traced.headers.get('content-type'), 'text/plain; charset=utf-8');
    for (const body of [s.tracedBody, s.anonymousBody, ...s.concurrentBodies]) assert.match(body, /^[1-6]\n$/);
    assert.equal(s.head.status, 200);
    assert.equal(s.exitCode, 0, s.stderr);
  });

  test(
    `${runtime}: every request printed a server span, and every roll a child roll span`,
    { timeout: 60_000 },
    async () => {
      const { printed, requests, rolls } = await session(runtime);
      const servers = serverSpans(printed);
      const rollSpans = printed.spans.filter((s) => s.name === 'roll');
      assert.equal(servers.length, requests);
      assert.equal(rollSpans.length, rolls);
      for (const roll of rollSpans) {
        const parent = servers.find((s) => s.spanId === roll.parentSpanId);
        assert.ok(parent, `roll ${roll.spanId} has its request's server span as parent`);
        assert.equal(parent.traceId, roll.traceId);
        assert.match(String(roll.attributesObject['roll.value']), /^[1-6]$/);
        assert.equal(roll.scope.name, 'rolldice');
      }
      // 50 concurrent requests: 50 distinct traces, each roll under its own request.
      const concurrent = servers.filter((s) => /^\/rolldice\/p\d+$/.test(String(s.attributesObject['url.path'])));
      assert.equal(new Set(concurrent.map((s) => s.traceId)).size, CONCURRENT);
    },
  );

  test(`${runtime}: the server span follows the stable HTTP semantic conventions`, { timeout: 60_000 }, async () => {
    const { printed } = await session(runtime);
    const span = serverSpans(printed).find((s) => s.traceId === TRACE_ID);
    assert.ok(span, 'the incoming trace id is continued');
    assert.equal(span.parentSpanId, PARENT_ID);
    assert.equal(span.traceState, 'vendor=opaque');
    assert.equal(span.name, 'GET /rolldice/{player}');
    assert.equal(span.attributesObject['http.request.method'], 'GET');
    assert.equal(span.attributesObject['http.route'], '/rolldice/{player}');
    assert.equal(span.attributesObject['url.path'], '/rolldice/Alice');
    assert.equal(span.attributesObject['url.scheme'], 'http');
    assert.equal(span.attributesObject['http.response.status_code'], 200);
    assert.equal(span.attributesObject['server.address'], '127.0.0.1');
    assert.equal(typeof span.attributesObject['server.port'], 'number');
    assert.equal(span.attributesObject['user_agent.original'], 'e2e/1.0');
    assert.equal(span.attributesObject['client.address'], '127.0.0.1');
    assert.equal(span.resource['service.name'], 'dice');
    assert.equal(span.resource['service.version'], '0.1.0');
    assert.equal(span.resource['process.runtime.name'], runtime === 'node' ? 'nodejs' : runtime);
    assert.equal(span.resource['telemetry.sdk.name'], 'opentelemetry');
  });

  test(
    `${runtime}: the log record names the player, carries the result and the roll span's ids`,
    { timeout: 60_000 },
    async () => {
      const { printed, rolls, tracedBody } = await session(runtime);
      assert.equal(printed.logs.length, rolls);
      const alice = printed.logs.find((l) => l.bodyValue === 'Alice is rolling the dice');
      assert.ok(alice);
      const roll = printed.spans.find((s) => s.name === 'roll' && s.traceId === TRACE_ID);
      assert.ok(roll);
      assert.equal(alice.traceId, TRACE_ID);
      assert.equal(alice.spanId, roll.spanId);
      assert.equal(alice.severityNumber, 9);
      assert.equal(alice.attributesObject.result, Number(tracedBody));
      assert.equal(alice.scope.name, 'rolldice');
      assert.ok(printed.logs.some((l) => l.bodyValue === 'Anonymous player is rolling the dice'));
    },
  );

  test(`${runtime}: dice.rolls sums to the number of rolls, by roll.value`, { timeout: 60_000 }, async () => {
    const { printed, rolls } = await session(runtime);
    const metric = lastMetric(printed, 'dice.rolls');
    assert.ok(metric, 'dice.rolls was printed on shutdown');
    assert.equal(metric.unit, '{roll}');
    assert.equal(metric.description, 'The number of rolls by roll value');
    assert.equal(metric.sum?.isMonotonic, true);
    let total = 0;
    for (const point of metric.sum?.dataPoints ?? []) {
      const value = attributesOf(point.attributes)['roll.value'];
      assert.ok(typeof value === 'number' && value >= 1 && value <= 6, `roll.value ${value}`);
      total += Number(point.asInt);
    }
    assert.equal(total, rolls);
    const duration = lastMetric(printed, 'http.server.request.duration');
    assert.equal(duration?.unit, 's');
    const count = (duration?.histogram?.dataPoints ?? []).reduce((n, p) => n + Number(p.count), 0);
    assert.equal(count, rolls + BAD_CASES.length);
  });

  test(`${runtime}: bad input gets 404, 405 or 400 and never a crash`, { timeout: 60_000 }, async () => {
    const s = await session(runtime);
    for (const c of BAD_CASES) assert.equal(s.bad.get(c.name)?.status, c.status, c.name);
    assert.equal(s.bad.get('POST')?.headers.get('allow'), 'GET, HEAD, OPTIONS');
    assert.equal(s.garbageStatus, 200);
    const garbage = serverSpans(s.printed).find((span) => span.attributesObject['url.path'] === '/rolldice/garbage');
    assert.ok(garbage);
    assert.equal(garbage.parentSpanId ?? '', '', 'a garbage traceparent starts a new trace');
    assert.equal(s.exitCode, 0);
  });

  test(`${runtime}: a port already in use is one clear line and a non-zero exit`, { timeout: 30_000 }, async () => {
    const blocker = createServer();
    await new Promise<void>((resolve) => blocker.listen(0, '127.0.0.1', resolve));
    const port = (blocker.address() as { port: number }).port;
    try {
      await assert.rejects(startService(runtime, { env: { PORT: String(port) } }), (error: Error) => {
        assert.match(error.message, /exited with [1-9]/);
        assert.match(
          error.message,
          new RegExp(`rolldice: cannot listen on 127\\.0\\.0\\.1:${port}: the address is already in use`),
        );
        return true;
      });
    } finally {
      blocker.close();
    }
  });
}

// Only node:http tells the HTTP version; Deno.serve and Bun.serve do not, so their adapters
// leave network.protocol.version out rather than guess.
const RUNTIME_GAPS = new Set(['network.protocol.version']);

test(
  'all runtimes print the same span names, attribute keys, metrics and log bodies',
  { timeout: 90_000 },
  async () => {
    const shapes = await Promise.all(RUNTIMES.map(async (runtime) => {
      const { printed } = await session(runtime);
      const keys = (attrs: object) => Object.keys(attrs).filter((k) => !RUNTIME_GAPS.has(k)).sort();
      const spanShapes = [...new Set(printed.spans.map((s) => `${s.name} ${s.kind} [${keys(s.attributesObject)}]`))]
        .sort();
      const metrics = [...new Set(printed.metrics.map((m) => `${m.scope.name} ${m.name} ${m.unit}`))].sort();
      const bodies = [...new Set(printed.logs.map((l) => l.bodyValue))].sort();
      const resourceKeys = Object.keys(printed.spans[0].resource).sort();
      return { runtime, spanShapes, metrics, bodies, resourceKeys };
    }));
    const [first, ...others] = shapes;
    for (const other of others) {
      assert.deepEqual(other.spanShapes, first!.spanShapes, `span shapes of ${other.runtime} vs ${first!.runtime}`);
      assert.deepEqual(other.metrics, first!.metrics, `metrics of ${other.runtime} vs ${first!.runtime}`);
      assert.deepEqual(other.bodies, first!.bodies, `log bodies of ${other.runtime} vs ${first!.runtime}`);
      assert.deepEqual(other.resourceKeys, first!.resourceKeys, `resource keys of ${other.runtime}`);
    }
  },
);
