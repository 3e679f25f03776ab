/**
 * One trace across Node, Deno and Bun: three processes, one per adapter, each taking its rolls
 * from the next (ROLLDICE_UPSTREAM), and all exporting over OTLP to one test receiver.
 *
 *   test ──> node ──> deno ──> bun ──> oracle (a node:http stub in this process)
 *
 * The oracle at the end stands in for a last dice service: it answers the roll and shows what
 * the Bun process sent on the wire. Baggage is observed there, as a header, rather than copied
 * into telemetry: the W3C Baggage spec leaves entries to the application, and putting
 * user-supplied baggage on every span or log would leak it to the telemetry backend. If the
 * oracle gets `player.tier=gold`, every hop extracted it and injected it again.
 */
import assert from 'node:assert/strict';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { test } from '../_harness.ts';
import { startOtlpReceiver } from '../_otlp-receiver.ts';
import { type RunningService, startService } from './_service.ts';

const SERVER = 2;
const CLIENT = 3;

interface Oracle {
  url: string;
  headers: http.IncomingHttpHeaders[];
  close(): Promise<void>;
}

async function startOracle(roll: string): Promise<Oracle> {
  const headers: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    headers.push(req.headers);
    res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(`${roll}\n`);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    headers,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

test(
  'the chain node -> deno -> bun: one request is one trace, linked across the runtimes, baggage carried to the end',
  async () => {
    const receiver = await startOtlpReceiver();
    const oracle = await startOracle('3');
    const services: RunningService[] = [];
    const env = (upstream: string, name: string) => ({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_TRACES_EXPORTER: 'otlp',
      OTEL_LOGS_EXPORTER: 'otlp',
      OTEL_METRICS_EXPORTER: 'otlp',
      OTEL_BSP_SCHEDULE_DELAY: '100',
      OTEL_BLRP_SCHEDULE_DELAY: '100',
      OTEL_SERVICE_NAME: name,
      ROLLDICE_UPSTREAM: upstream,
    });
    try {
      // Each hop needs the next one's URL, so the chain starts from its end.
      const bun = await startService('bun', { env: env(oracle.url, 'dice-bun') });
      services.push(bun);
      const deno = await startService('deno', { env: env(bun.url, 'dice-deno') });
      services.push(deno);
      const node = await startService('node', { env: env(deno.url, 'dice-node') });
      services.push(node);

      const response = await fetch(`${node.url}/rolldice/Alice`, { headers: { baggage: 'player.tier=gold' } });
      assert.equal(response.status, 200, await response.clone().text());
      assert.equal(await response.text(), '3\n', 'the roll comes from the end of the chain');

      // 3 runtimes x (SERVER, roll, CLIENT) spans, and a log record each.
      await receiver.waitFor((r) => r.spans().length >= 9 && r.logRecords().length >= 3, 15_000);
      const spans = receiver.spans();
      assert.equal(
        spans.length,
        9,
        spans.map((s: any) => `${s.resource['process.runtime.name']} ${s.name}`).join(', '),
      );
      assert.equal(new Set(spans.map((s: any) => s.traceId)).size, 1, 'one trace');
      const traceId = spans[0].traceId;

      // process.runtime.name says `nodejs` for Node, as the official process detector does.
      const named = (s: { resource: Record<string, unknown> }, runtime: string) =>
        s.resource['process.runtime.name'] === (runtime === 'node' ? 'nodejs' : runtime);
      const of = (runtime: string, kind: number) => {
        const found = spans.filter((s: any) => named(s, runtime) && s.kind === kind);
        assert.equal(found.length, 1, `one ${kind === SERVER ? 'SERVER' : 'CLIENT'} span from ${runtime}`);
        return found[0];
      };
      const rollOf = (runtime: string) => spans.find((s: any) => named(s, runtime) && s.name === 'roll');

      let parentId = ''; // the test's request carries no traceparent: Node starts the trace
      for (const runtime of ['node', 'deno', 'bun']) {
        const server = of(runtime, SERVER);
        const roll = rollOf(runtime);
        const client = of(runtime, CLIENT);
        assert.equal(server.name, 'GET /rolldice/{player}');
        assert.equal(
          server.parentSpanId ?? '',
          parentId,
          `${runtime}'s SERVER span is a child of the previous hop's CLIENT span`,
        );
        assert.equal(roll.parentSpanId, server.spanId, `${runtime}'s roll is a child of its SERVER span`);
        assert.equal(client.parentSpanId, roll.spanId, `${runtime}'s CLIENT span is a child of its roll`);
        assert.equal(client.name, 'GET');
        assert.equal(client.attributesObject['http.response.status_code'], 200);
        assert.equal(server.resource['service.name'], `dice-${runtime}`);
        assert.equal(client.scope.name, '@rolldice/otel');
        parentId = client.spanId;
      }
      assert.equal(of('node', CLIENT).attributesObject['url.full'], `${deno.url}/rolldice/Alice`);
      assert.equal(of('deno', CLIENT).attributesObject['url.full'], `${bun.url}/rolldice/Alice`);
      assert.equal(of('bun', CLIENT).attributesObject['url.full'], `${oracle.url}/rolldice/Alice`);

      // What Bun, the last hop, sent on: the trace, its own CLIENT span as parent, and the baggage.
      assert.equal(oracle.headers.length, 1);
      // Sampled, and random: Node started the trace with a random id, and every hop kept the flag.
      assert.equal(oracle.headers[0]!.traceparent, `00-${traceId}-${parentId}-03`);
      assert.equal(oracle.headers[0]!.baggage, 'player.tier=gold');

      // Every hop logged the same roll, inside its roll span of the one trace.
      const records = receiver.logRecords();
      for (const runtime of ['node', 'deno', 'bun']) {
        const record = records.find((r: any) => named(r, runtime));
        assert.ok(record, `a log record from ${runtime}`);
        assert.equal(record.bodyValue, 'Alice is rolling the dice');
        assert.equal(record.attributesObject.result, 3);
        assert.equal(record.traceId, traceId);
        assert.equal(record.spanId, rollOf(runtime).spanId);
      }
    } finally {
      await stopAll(services, [oracle, receiver]);
    }
  },
  { timeoutMillis: 60_000 },
);

/** SIGTERM to every hop, SIGKILL to any still running 5 s later, then the receivers closed. */
async function stopAll(services: RunningService[], receivers: { close(): Promise<void> }[]): Promise<void> {
  for (const service of services) service.signal('SIGTERM');
  await Promise.all(services.map((s) => Promise.race([s.exited, new Promise((r) => setTimeout(r, 5_000))])));
  for (const service of services) service.signal('SIGKILL');
  for (const receiver of receivers) await receiver.close();
}

/** A GET with header lines exactly as given, repeated names included (fetch would join them). */
function rawGet(url: string, lines: [string, string][]): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    // With header lines given as a list, Node adds no Host header of its own.
    const request = http.request(url, { headers: [['host', new URL(url).host], ...lines].flat() }, (response) => {
      let body = '';
      response.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      response.on('end', () => resolve({ status: response.statusCode!, body }));
    });
    request.on('error', reject).end();
  });
}

test(
  'the chain node -> deno -> bun: each server combines repeated trace context and baggage lines as W3C says',
  async () => {
    const receiver = await startOtlpReceiver();
    const oracle = await startOracle('5');
    const services: RunningService[] = [];
    const env = (upstream: string) => ({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, ROLLDICE_UPSTREAM: upstream });
    const T1 = '4bf92f3577b34da6a3ce929d0e0e4736';
    const T2 = '4bf92f3577b34da6a3ce929d0e0e4737';
    const P = '00f067aa0ba902b7';
    try {
      const bun = await startService('bun', { env: env(oracle.url) });
      services.push(bun);
      const deno = await startService('deno', { env: env(bun.url) });
      services.push(deno);
      const node = await startService('node', { env: env(deno.url) });
      services.push(node);
      // Whatever the entry server understood travels the rest of the chain to the oracle.
      for (const entry of [node, deno, bun]) {
        const sent = oracle.headers.length;
        const twoParents = await rawGet(`${entry.url}/rolldice`, [
          ['traceparent', `00-${T1}-${P}-01`],
          ['traceparent', `00-${T2}-${P}-01`],
          ['tracestate', 'congo=t61rcWkgMzE'],
        ]);
        assert.equal(twoParents.body, '5\n', `${entry.runtime}: ${twoParents.body}`);
        const restarted = oracle.headers[sent]!;
        assert.doesNotMatch(
          String(restarted.traceparent),
          new RegExp(`${T1}|${T2}`),
          `${entry.runtime} restarts the trace`,
        );
        assert.equal(restarted.tracestate, undefined, `${entry.runtime} drops the tracestate`);

        const lines = await rawGet(`${entry.url}/rolldice/Bob`, [
          ['traceparent', `00-${T1}-${P}-01`],
          ['tracestate', 'rojo=00f067aa0ba902b7'],
          ['baggage', 'player.tier=gold'],
          ['tracestate', 'congo=t61rcWkgMzE'],
          ['baggage', 'team=red%20dice;p'],
        ]);
        assert.equal(lines.body, '5\n', `${entry.runtime}: ${lines.body}`);
        const continued = oracle.headers[sent + 1]!;
        assert.match(
          String(continued.traceparent),
          new RegExp(`^00-${T1}-[0-9a-f]{16}-01$`),
          `${entry.runtime} continues the trace`,
        );
        assert.equal(
          continued.tracestate,
          'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE',
          `${entry.runtime} combines tracestate lines in order`,
        );
        assert.equal(
          continued.baggage,
          'player.tier=gold,team=red%20dice;p',
          `${entry.runtime} combines baggage lines in order`,
        );
      }
    } finally {
      await stopAll(services, [oracle, receiver]);
    }
  },
  { timeoutMillis: 60_000 },
);
