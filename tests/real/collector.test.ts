/**
 * Against the real thing: the OpenTelemetry Collector built from the official Go modules
 * (tools/otelcol/) and the Zipkin server from Maven Central, at pinned versions, prepared by
 * tools/prepare-real-components.ts into a cache outside the repository (built once, then reused).
 *
 * One gateway Collector (tools/otelcol/gateway.yaml, plus test-file-output.yaml for a file the
 * tests read) runs for the whole file, in front of one Zipkin:
 *
 *   services ──OTLP/HTTP──> gateway ──> file (read here), debug, zipkin ──> /api/v2/trace/{id}
 *   chain ──OTLP/HTTP──> agent (agent.yaml) ──OTLP/HTTP──> gateway
 *
 * Where Go (or Java, for Zipkin) is missing these tests are skipped with the reason; with
 * CI=true they fail instead, since CI has both and must never skip them.
 *
 *   node --test tests/real/        (after `npm run build`, with the Node of node_modules/.bin)
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { after, before, describe, it } from 'node:test';
import {
  collectorUnavailable,
  prepareCollector,
  prepareZipkin,
  zipkinUnavailable,
} from '../../tools/prepare-real-components.ts';
import {
  CONFIGS,
  fetchZipkinTrace,
  freePort,
  type RunningProcess,
  startCollector,
  startZipkin,
  type ZipkinSpan,
} from '../../tools/real-components.ts';
import { type RuntimeName, RUNTIMES } from '../_runtimes.ts';
import { type RunningService, startService } from '../e2e/_service.ts';
import { type FileExport, latestPoints, readFileExport } from './_file-export.ts';

const IN_CI = process.env.CI === 'true';
const COLLECTOR_MISSING = collectorUnavailable();
const ZIPKIN_MISSING = zipkinUnavailable();
/** Skipped with the reason on a machine without the tools; never in CI, where `before` fails. */
const skipUnless = (reason: string | undefined) => (IN_CI ? false : reason ?? false);

const SERVER = 2;

/** Short export delays, so that a test waits for the Collector rather than for a timer. */
const QUICK_EXPORT = {
  OTEL_BSP_SCHEDULE_DELAY: '100',
  OTEL_BLRP_SCHEDULE_DELAY: '100',
  OTEL_METRIC_EXPORT_INTERVAL: '1000',
};

interface Roll {
  player: string | undefined;
  traceId: string;
  /** The span id of the caller's traceparent: the SERVER span's parent. */
  parentId: string;
  roll: number;
}

const hex = (bytes: number) => randomBytes(bytes).toString('hex');

/** GETs /rolldice/{player} (or /rolldice) with a fresh traceparent, so its trace can be found. */
async function roll(service: RunningService, player: string | undefined): Promise<Roll> {
  const traceId = hex(16);
  const parentId = hex(8);
  const response = await fetch(`${service.url}/rolldice${player === undefined ? '' : `/${player}`}`, {
    headers: { traceparent: `00-${traceId}-${parentId}-01` },
  });
  const body = await response.text();
  assert.equal(response.status, 200, `${service.runtime}: ${body}`);
  return { player, traceId, parentId, roll: Number(body) };
}

const PLAYERS = ['Alice', undefined, 'Bob'] as const;

async function rollEach(service: RunningService): Promise<Roll[]> {
  const rolls: Roll[] = [];
  for (const player of PLAYERS) rolls.push(await roll(service, player));
  return rolls;
}

/** SIGTERM (the service flushes every signal), SIGKILL after 15 s; resolves with the exit codes. */
async function stopServices(services: RunningService[]): Promise<(number | string)[]> {
  for (const service of services) service.signal('SIGTERM');
  const timers = services.map((service) => setTimeout(() => service.signal('SIGKILL'), 15_000));
  const codes = await Promise.all(services.map((service) => service.exited));
  for (const timer of timers) clearTimeout(timer);
  return codes;
}

/** Polls the file export every 100 ms until `done` holds or the deadline passes; returns the last read. */
async function waitForExport(
  dir: string,
  done: (exported: FileExport) => boolean,
  timeoutMillis = 20_000,
): Promise<FileExport> {
  const deadline = Date.now() + timeoutMillis;
  for (;;) {
    const exported = readFileExport(dir);
    if (done(exported) || Date.now() > deadline) return exported;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** One service's share of the export, spans and log records deduplicated (OTLP is at-least-once). */
function shareOf(exported: FileExport, serviceName: string) {
  const mine = <T extends { resource: Record<string, unknown> }>(items: T[]) =>
    items.filter((i) => i.resource['service.name'] === serviceName);
  const spans = new Map(mine(exported.spans).map((s) => [s.spanId, s]));
  const logs = new Map(mine(exported.logs).map((l) => [`${l.traceId}/${l.spanId}/${String(l.bodyValue)}`, l]));
  const points = mine(exported.points);
  const total = (metric: string) => latestPoints(points, metric).reduce((sum, p) => sum + p.value, 0);
  return {
    spans: [...spans.values()],
    logs: [...logs.values()],
    points,
    duplicates: mine(exported.spans).length - spans.size + mine(exported.logs).length - logs.size,
    rollsCounted: total('dice.rolls'),
    requestsTimed: total('http.server.request.duration'),
  };
}

function arrivedAll(exported: FileExport, serviceName: string, requests: number): boolean {
  const share = shareOf(exported, serviceName);
  return share.spans.length >= 2 * requests && share.logs.length >= requests &&
    share.rollsCounted >= requests && share.requestsTimed >= requests;
}

/**
 * Every span, log record and metric point of `rolls` arrived, attributes intact: per request a
 * SERVER span and its `roll` child, one log record in `roll`, and the metrics' totals.
 */
function assertArrived(
  exported: FileExport,
  serviceName: string,
  runtime: RuntimeName,
  rolls: Roll[],
  options: { duplicates: 'none' | 'allowed' },
): void {
  const share = shareOf(exported, serviceName);
  const what = `${serviceName} (${runtime})`;
  if (options.duplicates === 'none') assert.equal(share.duplicates, 0, `${what}: no span or log record twice`);
  assert.equal(share.spans.length, 2 * rolls.length, `${what}: 2 spans per request`);
  assert.equal(share.logs.length, rolls.length, `${what}: 1 log record per request`);
  for (const span of share.spans) {
    assert.equal(span.resource['service.name'], serviceName);
    assert.equal(
      span.resource['process.runtime.name'],
      runtime === 'node' ? 'nodejs' : runtime,
      `${what}: the resource names the runtime`,
    );
  }
  for (const r of rolls) {
    const route = r.player === undefined ? '/rolldice' : '/rolldice/{player}';
    const inTrace = share.spans.filter((s) => s.traceId === r.traceId);
    assert.equal(inTrace.length, 2, `${what}: trace ${r.traceId} has its SERVER and roll spans`);
    const server = inTrace.find((s) => s.kind === SERVER);
    const rollSpan = inTrace.find((s) => s.name === 'roll');
    assert.ok(server && rollSpan, `${what}: ${inTrace.map((s) => s.name).join(', ')}`);
    assert.equal(server.name, `GET ${route}`);
    assert.equal(server.parentSpanId, r.parentId, `${what}: the SERVER span continues the caller's trace`);
    assert.equal(server.attributesObject['http.route'], route);
    assert.equal(server.attributesObject['http.request.method'], 'GET');
    assert.equal(server.attributesObject['http.response.status_code'], 200);
    assert.equal(rollSpan.parentSpanId, server.spanId);
    assert.equal(rollSpan.scope.name, 'rolldice');
    assert.equal(rollSpan.attributesObject['roll.value'], r.roll, `${what}: roll.value is the roll answered`);

    const records = share.logs.filter((l) => l.traceId === r.traceId);
    assert.equal(records.length, 1, `${what}: one log record in trace ${r.traceId}`);
    const [record] = records;
    assert.equal(record!.bodyValue, `${r.player ?? 'Anonymous player'} is rolling the dice`);
    assert.equal(record!.spanId, rollSpan.spanId, `${what}: the log record carries the roll span's id`);
    assert.equal(record!.attributesObject.result, r.roll);
    assert.equal(record!.severityText, 'INFO');
  }

  // Cumulative sums: the latest point per attribute set holds the total.
  const rolled = latestPoints(share.points, 'dice.rolls');
  for (const face of [1, 2, 3, 4, 5, 6]) {
    const expected = rolls.filter((r) => r.roll === face).length;
    const point = rolled.find((p) => p.attributesObject['roll.value'] === face);
    assert.equal(point?.value ?? 0, expected, `${what}: dice.rolls{roll.value=${face}}`);
  }
  assert.equal(rolled.reduce((sum, p) => sum + p.value, 0), rolls.length, `${what}: dice.rolls counts every request`);
  const timed = latestPoints(share.points, 'http.server.request.duration');
  for (const route of ['/rolldice', '/rolldice/{player}']) {
    const expected = rolls.filter((r) => (r.player === undefined) === (route === '/rolldice')).length;
    const count = timed.filter((p) => p.attributesObject['http.route'] === route).reduce((sum, p) => sum + p.value, 0);
    assert.equal(count, expected, `${what}: http.server.request.duration{http.route=${route}} counts its requests`);
  }
  for (const point of timed) {
    assert.equal(point.attributesObject['http.response.status_code'], 200);
    assert.equal(
      point.bucketCounts?.reduce((a, b) => a + b, 0),
      point.value,
      `${what}: the buckets add up to the count`,
    );
  }
}

describe('the real OpenTelemetry Collector (tools/otelcol)', { skip: skipUnless(COLLECTOR_MISSING) }, () => {
  let collectorBinary = '';
  let gateway: RunningProcess | undefined;
  let zipkin: RunningProcess | undefined;
  let zipkinStarting: Promise<RunningProcess> | undefined;
  let gatewayPort = 0;
  let workDir = '';
  let exportDir = '';
  let zipkinEndpoint = '';
  const processes: { stop(): Promise<void> }[] = [];
  const services: RunningService[] = [];

  const startGateway = () =>
    startCollector(collectorBinary, {
      configs: [CONFIGS.gateway, CONFIGS.testFileOutput],
      port: gatewayPort,
      env: { OTELCOL_FILE_DIR: exportDir, ZIPKIN_ENDPOINT: zipkinEndpoint },
    });

  const start = async (runtime: RuntimeName, env: Record<string, string>) => {
    // Many processes start at once on a small machine: give each more time than the e2e suite does.
    const service = await startService(runtime, { env: { ...QUICK_EXPORT, ...env }, timeoutMillis: 60_000 });
    services.push(service);
    return service;
  };

  before(async () => {
    if (COLLECTOR_MISSING) throw new Error(`${COLLECTOR_MISSING} (CI=true: these tests must run, not be skipped)`);
    if (ZIPKIN_MISSING && IN_CI) throw new Error(`${ZIPKIN_MISSING} (CI=true: these tests must run, not be skipped)`);
    workDir = mkdtempSync(join(tmpdir(), 'rolldice-real-'));
    exportDir = join(workDir, 'export');
    mkdirSync(exportDir);
    gatewayPort = await freePort();
    // Zipkin starts (seconds, on the JVM) while the Collector is built or taken from the cache.
    zipkinStarting = ZIPKIN_MISSING ? undefined : prepareZipkin().then((jar) => startZipkin(jar.path));
    collectorBinary = (await prepareCollector()).path;
    if (zipkinStarting) {
      zipkin = await zipkinStarting;
      zipkinEndpoint = `${zipkin.url}/api/v2/spans`;
    } else {
      // Without Zipkin the gateway's zipkin exporter points at a closed port on this host.
      zipkinEndpoint = `http://127.0.0.1:${await freePort()}/api/v2/spans`;
    }
    gateway = await startGateway();
  }, { timeout: 20 * 60_000 });

  after(async () => {
    await stopServices(services.splice(0));
    await gateway?.stop();
    for (const p of processes) await p.stop();
    // Also when the Collector's build failed while Zipkin was starting.
    await (await zipkinStarting?.catch(() => undefined))?.stop();
    if (workDir) rmSync(workDir, { recursive: true, force: true });
  });

  it('receives every span, log record and metric point from Node, Deno and Bun, over OTLP/HTTP protobuf and JSON, gzipped and not', async () => {
    // All 12 combinations at once: 12 processes that each answer 3 requests cost about a
    // second here, so there is no need for a smaller covering design.
    const matrix = RUNTIMES.flatMap((runtime) =>
      (['http/protobuf', 'http/json'] as const).flatMap((protocol) =>
        (['gzip', 'none'] as const).map((compression) => [runtime, protocol, compression] as const)
      )
    );
    const running = await Promise.all(matrix.map(async ([runtime, protocol, compression]) => {
      const name = `matrix-${runtime}-${protocol.slice(5)}-${compression}`;
      const service = await start(runtime, {
        OTEL_SERVICE_NAME: name,
        OTEL_EXPORTER_OTLP_ENDPOINT: gateway!.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
        OTEL_EXPORTER_OTLP_COMPRESSION: compression,
      });
      return { name, runtime, service, rolls: await rollEach(service) };
    }));
    // The services flush every signal when stopped; the Collector then has all of it.
    const codes = await stopServices(running.map((r) => r.service));
    assert.deepEqual(codes, running.map(() => 0), 'every service exits 0 after its flush');
    const exported = await waitForExport(exportDir, (e) => running.every((r) => arrivedAll(e, r.name, r.rolls.length)));
    for (const r of running) {
      // The exporters' loss reports say "Dropped N spans: ..."; the SDK's own problems "otel warn" or "otel error".
      assert.doesNotMatch(r.service.stderr(), /Dropped|otel warn|otel error/, `${r.name} reported no export problem`);
      assertArrived(exported, r.name, r.runtime, r.rolls, { duplicates: 'none' });
    }
  });

  it('forwards the chain node -> deno -> bun, through an agent Collector, to Zipkin as one trace', {
    skip: skipUnless(ZIPKIN_MISSING),
  }, async () => {
    assert.ok(zipkin, 'Zipkin is running');
    const agent = await startCollector(collectorBinary, {
      configs: [CONFIGS.agent],
      env: { OTELCOL_GATEWAY_ENDPOINT: gateway!.url },
    });
    processes.push(agent);
    const env = (name: string, upstream?: string) => ({
      OTEL_SERVICE_NAME: name,
      OTEL_EXPORTER_OTLP_ENDPOINT: agent.url,
      ...(upstream ? { ROLLDICE_UPSTREAM: upstream } : {}),
    });
    // Each hop needs the next one's URL, so the chain starts from its end.
    const bun = await start('bun', env('dice-bun'));
    const deno = await start('deno', env('dice-deno', bun.url));
    const node = await start('node', env('dice-node', deno.url));
    const r = await roll(node, 'Alice');

    const spans = await fetchZipkinTrace(zipkin!, r.traceId, 8);
    const shown = spans.map((s) => `${s.localEndpoint?.serviceName} ${s.kind ?? 'INTERNAL'} ${s.name}`).join('\n');
    assert.equal(spans.length, 8, `3 hops x (SERVER, roll) + 2 CLIENT spans:\n${shown}`);
    const one = (service: string, pick: (s: ZipkinSpan) => boolean, what: string) => {
      const found = spans.filter((s) => s.localEndpoint?.serviceName === service && pick(s));
      assert.equal(found.length, 1, `one ${what} span from ${service}:\n${shown}`);
      return found[0];
    };
    let parentId = r.parentId; // the test's own traceparent is the root's parent
    for (const hop of ['dice-node', 'dice-deno', 'dice-bun']) {
      const server = one(hop, (s) => s.kind === 'SERVER', 'SERVER');
      const rollSpan = one(hop, (s) => s.name === 'roll', 'roll');
      assert.equal(server.traceId, r.traceId);
      // Zipkin's model keeps span names in lower case.
      assert.equal(server.name, 'get /rolldice/{player}');
      assert.equal(server.tags?.['http.route'], '/rolldice/{player}');
      assert.equal(server.parentId, parentId, `${hop}'s SERVER span is the child of the previous hop's CLIENT span`);
      assert.equal(rollSpan.parentId, server.id, `${hop}'s roll is the child of its SERVER span`);
      if (hop === 'dice-bun') {
        assert.equal(rollSpan.tags?.['roll.value'], String(r.roll), 'the last hop rolled what the first one answered');
        break;
      }
      const client = one(hop, (s) => s.kind === 'CLIENT', 'CLIENT');
      assert.equal(client.parentId, rollSpan.id, `${hop}'s CLIENT span is the child of its roll`);
      parentId = client.id;
    }
    assert.equal(spans.filter((s) => s.kind === 'SERVER').length, 3);
    assert.equal(spans.filter((s) => s.kind === 'CLIENT').length, 2);
    await stopServices(services.splice(0));
  });

  it('loses nothing when the Collector is stopped and started again mid-run: the services retry', async () => {
    // The outage lasts from the stop until every service has seen every signal's export fail
    // once, then the Collector comes back on the same port: within the exporters' retry window
    // (OTEL_EXPORTER_OTLP_TIMEOUT, 10 s by default, retries included). The reliability issue's
    // outage buffer will make longer outages survivable too.
    const plan: [RuntimeName, string, string][] = [
      ['node', 'http/protobuf', 'none'],
      ['deno', 'http/json', 'gzip'],
      ['bun', 'http/protobuf', 'gzip'],
    ];
    const running = await Promise.all(plan.map(async ([runtime, protocol, compression]) => {
      const name = `restart-${runtime}`;
      const service = await start(runtime, {
        OTEL_SERVICE_NAME: name,
        OTEL_EXPORTER_OTLP_ENDPOINT: gateway!.url,
        OTEL_EXPORTER_OTLP_PROTOCOL: protocol,
        OTEL_EXPORTER_OTLP_COMPRESSION: compression,
        // The exporters say when they retry, which tells the test the outage was felt.
        OTEL_LOG_LEVEL: 'debug',
      });
      return { name, runtime, service, rolls: await rollEach(service) };
    }));

    await gateway!.stop();
    // A clean stop: a Collector that crashed on the way down would have lost what it held.
    assert.equal(await gateway!.exited, 0, gateway!.output().slice(-3000));
    for (const r of running) r.rolls.push(...(await rollEach(r.service)));
    const deadline = Date.now() + 20_000;
    const felt = (r: (typeof running)[number]) =>
      ['traces', 'logs', 'metrics'].every((signal) =>
        new RegExp(`Retrying the OTLP export to \\S+/v1/${signal} in [^:]+: could not reach the collector`, 'i').test(
          r.service.stderr(),
        )
      );
    while (!running.every(felt)) {
      assert.ok(
        Date.now() < deadline,
        `every service retried every signal within 20 s:\n${
          running.map((r) => `${r.name}:\n${r.service.stderr().slice(-2000)}`).join('\n')
        }`,
      );
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    gateway = await startGateway();
    for (const r of running) r.rolls.push(...(await rollEach(r.service)));

    const codes = await stopServices(running.map((r) => r.service));
    assert.deepEqual(codes, running.map(() => 0));
    const exported = await waitForExport(exportDir, (e) => running.every((r) => arrivedAll(e, r.name, r.rolls.length)));
    for (const r of running) {
      assert.doesNotMatch(r.service.stderr(), /Dropped|gave up/, `${r.name} gave nothing up`);
      // A batch the Collector took just before it stopped may come twice: OTLP is at-least-once.
      assertArrived(exported, r.name, r.runtime, r.rolls, { duplicates: 'allowed' });
    }
  });
});
