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
import { afterEach, test } from 'node:test';
import { startStub, type Stub } from '../_http-stub.ts';
import type { FlatSpan } from '../_otlp-decode.ts';
import { startOtlpReceiver } from '../_otlp-receiver.ts';
import { startService, stopAllServices } from './_service.ts';

// Whatever a failing test left running.
afterEach(() => stopAllServices());

const SERVER = 2;
const CLIENT = 3;

/** The last dice service of the chain: answers `roll` and keeps the headers it was sent. */
function startOracle(roll: string): Promise<Stub> {
  return startStub((_, res) => res.writeHead(200, { 'content-type': 'text/plain; charset=utf-8' }).end(`${roll}\n`));
}

test(
  'the chain node -> deno -> bun: one request is one trace, linked across the runtimes, baggage carried to the end',
  { timeout: 60_000 },
  async () => {
    const receiver = await startOtlpReceiver();
    const oracle = await startOracle('3');
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
      const deno = await startService('deno', { env: env(bun.url, 'dice-deno') });
      const node = await startService('node', { env: env(deno.url, 'dice-node') });

      const response = await fetch(`${node.url}/rolldice/Alice`, { headers: { baggage: 'player.tier=gold' } });
      assert.equal(response.status, 200, await response.clone().text());
      assert.equal(await response.text(), '3\n', 'the roll comes from the end of the chain');

      // 3 runtimes x (SERVER, roll, CLIENT) spans, and a log record each.
      await receiver.waitFor((r) => r.spans().length >= 9 && r.logRecords().length >= 3, 15_000);
      const spans = receiver.spans();
      assert.equal(
        spans.length,
        9,
        spans.map((s) => `${s.resource['process.runtime.name']} ${s.name}`).join(', '),
      );
      assert.equal(new Set(spans.map((s) => s.traceId)).size, 1, 'one trace');
      const traceId = spans[0].traceId;

      const only = (runtime: string, what: string, match: (s: FlatSpan) => boolean): FlatSpan => {
        // process.runtime.name says `nodejs` for Node, as the official process detector does.
        const found = spans.filter((s) => s.resource['process.runtime.name'] === runtimeName(runtime) && match(s));
        assert.equal(found.length, 1, `one ${what} span from ${runtime}`);
        return found[0]!;
      };
      const of = (runtime: string, kind: number) =>
        only(runtime, kind === SERVER ? 'SERVER' : 'CLIENT', (s) => s.kind === kind);
      const rollOf = (runtime: string) => only(runtime, 'roll', (s) => s.name === 'roll');

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
        parentId = client.spanId ?? '';
      }
      assert.equal(of('node', CLIENT).attributesObject['url.full'], `${deno.url}/rolldice/Alice`);
      assert.equal(of('deno', CLIENT).attributesObject['url.full'], `${bun.url}/rolldice/Alice`);
      assert.equal(of('bun', CLIENT).attributesObject['url.full'], `${oracle.url}/rolldice/Alice`);

      // What Bun, the last hop, sent on: the trace, its own CLIENT span as parent, and the baggage.
      assert.equal(oracle.received.length, 1);
      // Sampled, and random: Node started the trace with a random id, and every hop kept the flag.
      assert.equal(oracle.received[0]!.headers.traceparent, `00-${traceId}-${parentId}-03`);
      assert.equal(oracle.received[0]!.headers.baggage, 'player.tier=gold');

      // Every hop logged the same roll, inside its roll span of the one trace.
      const records = receiver.logRecords();
      for (const runtime of ['node', 'deno', 'bun']) {
        const record = records.find((r) => r.resource['process.runtime.name'] === runtimeName(runtime));
        assert.ok(record, `a log record from ${runtime}`);
        assert.equal(record.bodyValue, 'Alice is rolling the dice');
        assert.equal(record.attributesObject.result, 3);
        assert.equal(record.traceId, traceId);
        assert.equal(record.spanId, rollOf(runtime).spanId);
      }
    } finally {
      await stopAll([oracle, receiver]);
    }
  },
);

/** SIGTERM to every hop, SIGKILL to any still running 5 s later, then the receivers closed. */
async function stopAll(receivers: { close(): Promise<void> }[]): Promise<void> {
  await stopAllServices();
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
  { timeout: 60_000 },
  async () => {
    const receiver = await startOtlpReceiver();
    const oracle = await startOracle('5');
    const env = (upstream: string) => ({ OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url, ROLLDICE_UPSTREAM: upstream });
    const T1 = '4bf92f3577b34da6a3ce929d0e0e4736';
    const T2 = '4bf92f3577b34da6a3ce929d0e0e4737';
    const P = '00f067aa0ba902b7';
    try {
      const bun = await startService('bun', { env: env(oracle.url) });
      const deno = await startService('deno', { env: env(bun.url) });
      const node = await startService('node', { env: env(deno.url) });
      // Whatever the entry server understood travels the rest of the chain to the oracle.
      for (const entry of [node, deno, bun]) {
        const sent = oracle.received.length;
        const twoParents = await rawGet(`${entry.url}/rolldice`, [
          ['traceparent', `00-${T1}-${P}-01`],
          ['traceparent', `00-${T2}-${P}-01`],
          ['tracestate', 'congo=t61rcWkgMzE'],
        ]);
        assert.equal(twoParents.body, '5\n', `${entry.runtime}: ${twoParents.body}`);
        const restarted = oracle.received[sent]!.headers;
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
        const continued = oracle.received[sent + 1]!.headers;
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
      await stopAll([oracle, receiver]);
    }
  },
);

function runtimeName(runtime: string): string {
  return runtime === 'node' ? 'nodejs' : runtime;
}
