/**
 * `node bench/faults.ts`: the fault suite's scenarios at full scale, on each runtime's service
 * started as its users start it (default settings, OTLP to a receiver on loopback): 250
 * requests/s, a 60 s collector outage, one request that hangs for the whole export timeout,
 * SIGTERM with a hung and with a dead collector, malformed requests, and slow clients. For
 * each it measures what was sent, received and reported lost, the service's RSS and how long
 * shutdown took, and writes the table into docs/reliability.md (between its `faults:` markers)
 * and bench/results/faults.{json,md}.
 *
 *   --runtime=node,deno,bun
 *   --rate=250          requests/s during every scenario
 *   --outage=60         seconds the collector is down in the outage scenario
 *   --quick             a 5 s outage and shorter phases: a smoke run, not written to the docs
 *
 * The healthy run and the outage run go side by side (two services, two receivers), so that
 * their RSS is compared over the same minute on the same machine.
 */
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import process from 'node:process';
import { type OtlpReceiver, startOtlpReceiver } from '../tests/_otlp-receiver.ts';
import { type RuntimeName, RUNTIMES } from '../tests/_runtimes.ts';
import { type RunningService, startService } from '../tests/e2e/_service.ts';
import {
  type Counts,
  LOGS_PER_REQUEST,
  openSlowClients,
  rawRequest,
  received,
  reportedLoss,
  SPANS_PER_REQUEST,
  startLoad,
  stoppedAfterSeconds,
} from '../tests/faults/_faults.ts';
import { rssBytes } from './lib/proc.ts';

function option(name: string): string | undefined {
  const prefix = `--${name}=`;
  return process.argv.find((arg) => arg.startsWith(prefix))?.slice(prefix.length);
}

const quick = process.argv.includes('--quick');
const runtimes = (option('runtime') ?? RUNTIMES.join(',')).split(',') as RuntimeName[];
const RATE = Number(option('rate') ?? 250);
const OUTAGE_SECONDS = Number(option('outage') ?? (quick ? 5 : 60));
const WARMUP_SECONDS = quick ? 2 : 10;
const AFTER_SECONDS = quick ? 2 : 10;
const SHORT_SECONDS = quick ? 3 : 10;

interface Row {
  scenario: string;
  runtime: RuntimeName;
  /** Requests answered 200, spans and log records they made. */
  requests: number;
  sent: Counts;
  received: { spans: number; logs: number };
  lost: Counts;
  /** Peak RSS during the scenario, MB. */
  rssPeakMB?: number;
  /** The same for the healthy run beside it. */
  rssHealthyPeakMB?: number;
  shutdownSeconds?: number;
  exitCode?: number | string;
  note: string;
}

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis));
const MB = 1024 * 1024;

/** Samples a process's RSS every 500 ms until stopped; returns the peak in MB. */
function watchRss(pid: number): { stop(): number } {
  let peak = 0;
  const sample = () => (peak = Math.max(peak, rssBytes(pid) ?? 0));
  sample();
  const timer = setInterval(sample, 500);
  return {
    stop() {
      clearInterval(timer);
      sample();
      return Math.round((peak / MB) * 10) / 10;
    },
  };
}

function sentFor(requests: number): Counts {
  return { spans: SPANS_PER_REQUEST * requests, logs: LOGS_PER_REQUEST * requests, points: 0 };
}

async function stop(service: RunningService): Promise<{ code: number | string; seconds: number | undefined }> {
  service.signal('SIGTERM');
  const code = await service.exited;
  return { code, seconds: stoppedAfterSeconds(service.stderr()) };
}

async function settled(receiver: OtlpReceiver, requests: number, timeoutMillis: number): Promise<boolean> {
  try {
    await receiver.waitFor((r) => {
      const got = received(r);
      return got.spans >= SPANS_PER_REQUEST * requests && got.logs >= LOGS_PER_REQUEST * requests;
    }, timeoutMillis);
    return true;
  } catch {
    return false;
  }
}

/** The healthy run and the outage side by side: the collector down for OUTAGE_SECONDS, then up. */
async function outage(runtime: RuntimeName): Promise<Row[]> {
  const healthyReceiver = await startOtlpReceiver();
  const downReceiver = await startOtlpReceiver();
  const healthy = await startService(runtime, { env: { OTEL_EXPORTER_OTLP_ENDPOINT: healthyReceiver.url } });
  const down = await startService(runtime, { env: { OTEL_EXPORTER_OTLP_ENDPOINT: downReceiver.url } });
  try {
    const healthyRss = watchRss(healthy.child.pid!);
    const downRss = watchRss(down.child.pid!);
    const healthyLoad = startLoad(healthy.url, RATE);
    const downLoad = startLoad(down.url, RATE);
    await sleep(WARMUP_SECONDS * 1000);
    await downReceiver.down();
    const outageStarted = performance.now();
    await sleep(OUTAGE_SECONDS * 1000);
    const downPeak = downRss.stop();
    const healthyPeak = healthyRss.stop();
    await downReceiver.up();
    const backAt = performance.now();
    await sleep(AFTER_SECONDS * 1000);
    await Promise.all([healthyLoad.stop(), downLoad.stop()]);
    // The service's backoff (up to 5 s) and default schedule delay (5 s) bound the drain.
    const [, allDelivered] = await Promise.all([
      settled(healthyReceiver, healthyLoad.sent, 30_000),
      settled(downReceiver, downLoad.sent, 60_000),
    ]);
    const [healthyStop, downStop] = await Promise.all([stop(healthy), stop(down)]);
    const row = (
      scenario: string,
      service: RunningService,
      receiver: OtlpReceiver,
      requests: number,
      failed: number,
      peak: number,
      stopped: { code: number | string; seconds: number | undefined },
      note: string,
    ): Row => ({
      scenario,
      runtime,
      requests,
      sent: sentFor(requests),
      received: { spans: received(receiver).spans, logs: received(receiver).logs },
      lost: reportedLoss(service.stderr()),
      rssPeakMB: peak,
      rssHealthyPeakMB: healthyPeak,
      shutdownSeconds: stopped.seconds,
      exitCode: stopped.code,
      note: failed > 0 ? `${note}; ${failed} requests failed` : note,
    });
    return [
      row(
        `healthy, ${RATE} req/s`,
        healthy,
        healthyReceiver,
        healthyLoad.sent,
        healthyLoad.failed,
        healthyPeak,
        healthyStop,
        'the baseline for RSS',
      ),
      row(
        `collector down ${OUTAGE_SECONDS} s, then up`,
        down,
        downReceiver,
        downLoad.sent,
        downLoad.failed,
        downPeak,
        downStop,
        `outage of ${Math.round((backAt - outageStarted) / 1000)} s, load on for ${AFTER_SECONDS} s after it; ${
          allDelivered ? 'everything delivered' : 'not everything delivered within 60 s'
        }`,
      ),
    ];
  } finally {
    healthy.signal('SIGKILL');
    down.signal('SIGKILL');
    await Promise.all([healthyReceiver.close(), downReceiver.close()]);
  }
}

/** The first traces request hangs until the exporter abandons it (the default 10 s timeout). */
async function hungRequest(runtime: RuntimeName): Promise<Row> {
  const receiver = await startOtlpReceiver();
  receiver.respond((request, attempt) => (request.signal === 'traces' && attempt === 1 ? 'hang' : undefined));
  const service = await startService(runtime, { env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } });
  try {
    const rss = watchRss(service.child.pid!);
    const load = startLoad(service.url, RATE);
    await sleep((quick ? 12 : 20) * 1000);
    await load.stop();
    await settled(receiver, load.sent, 30_000);
    const peak = rss.stop();
    const stopped = await stop(service);
    return {
      scenario: 'one traces request hangs',
      runtime,
      requests: load.sent,
      sent: sentFor(load.sent),
      received: { spans: received(receiver).spans, logs: received(receiver).logs },
      lost: reportedLoss(service.stderr()),
      rssPeakMB: peak,
      shutdownSeconds: stopped.seconds,
      exitCode: stopped.code,
      note: 'abandoned after the 10 s export timeout and sent again',
    };
  } finally {
    service.signal('SIGKILL');
    await receiver.close();
  }
}

/** SIGTERM after SHORT_SECONDS of load while the collector hangs every request, or is dead. */
async function shutdownWith(runtime: RuntimeName, fault: 'hung' | 'dead'): Promise<Row> {
  const receiver = await startOtlpReceiver();
  if (fault === 'hung') receiver.respond(() => 'hang');
  else await receiver.down();
  const service = await startService(runtime, { env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } });
  try {
    const rss = watchRss(service.child.pid!);
    const load = startLoad(service.url, RATE);
    await sleep(SHORT_SECONDS * 1000);
    await load.stop();
    const peak = rss.stop();
    const signalled = performance.now();
    const stopped = await stop(service);
    const wall = (performance.now() - signalled) / 1000;
    return {
      scenario: `SIGTERM, collector ${fault === 'hung' ? 'hanging' : 'dead'}`,
      runtime,
      requests: load.sent,
      sent: sentFor(load.sent),
      received: { spans: received(receiver).spans, logs: received(receiver).logs },
      lost: reportedLoss(service.stderr()),
      rssPeakMB: peak,
      shutdownSeconds: stopped.seconds,
      exitCode: stopped.code,
      note: `SIGTERM to exit ${wall.toFixed(2)} s (ROLLDICE_SHUTDOWN_FLUSH_TIMEOUT 5 s)`,
    };
  } finally {
    service.signal('SIGKILL');
    await receiver.close();
  }
}

const MALFORMED = [
  'GET /rolldice HTTP/1.0\r\n\r\n',
  'GET /rolldice HTTP/1.0\r\nConnection: keep-alive\r\n\r\n',
  'GET /rolldice HTTP/1.1\r\nHost: a b\r\n\r\n',
  'GET /rolldice HTTP/1.1\r\nHost: [::1\r\n\r\n',
  'GET /rolldice HTTP/1.1\r\nHost: x:99999\r\n\r\n',
  'GET /rolldice HTTP/1.1\r\nHost: %zz@\r\n\r\n',
  'OPTIONS * HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n',
  `GET /rolldice HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Big: ${'a'.repeat(1 << 20)}\r\n\r\n`,
];

/** Malformed requests and 50 slow clients under load; then SIGTERM with the slow ones open. */
async function badClients(runtime: RuntimeName): Promise<Row> {
  const receiver = await startOtlpReceiver();
  const service = await startService(runtime, { env: { OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url } });
  try {
    const rss = watchRss(service.child.pid!);
    const load = startLoad(service.url, RATE);
    const port = Number(new URL(service.url).port);
    const answers = await Promise.all(MALFORMED.map((raw) => rawRequest(port, raw)));
    const slow = await openSlowClients(port, 50);
    await sleep(SHORT_SECONDS * 1000 + (runtime === 'bun' ? 5_000 : 0));
    const closed = slow.closedAfter();
    await load.stop();
    await settled(receiver, load.sent, 15_000);
    const peak = rss.stop();
    const slowAgain = await openSlowClients(port, 50);
    const stopped = await stop(service);
    slow.destroy();
    slowAgain.destroy();
    const open = closed.filter((at) => at === undefined).length;
    // A malformed request the service answered itself (Deno's `OPTIONS *`, a 404) made a span.
    const served = answers.filter((answer) => answer.status === 404).length;
    const closedText = open === closed.length
      ? `none closed in ${Math.round(SHORT_SECONDS + (runtime === 'bun' ? 5 : 0))} s`
      : `closed after ≤ ${(Math.max(...closed.map((at) => at ?? 0)) / 1000).toFixed(1)} s${
        open ? `, ${open} still open` : ''
      }`;
    return {
      scenario: '8 malformed requests, 50 slow clients',
      runtime,
      requests: load.sent,
      sent: { ...sentFor(load.sent), spans: SPANS_PER_REQUEST * load.sent + served },
      received: { spans: received(receiver).spans, logs: received(receiver).logs },
      lost: reportedLoss(service.stderr()),
      rssPeakMB: peak,
      shutdownSeconds: stopped.seconds,
      exitCode: stopped.code,
      note: `answers ${answers.map((a) => a.status ?? (a.reset ? 'reset' : 'none')).join(' ')} within ${
        Math.round(Math.max(...answers.map((a) => a.millis)))
      } ms; slow clients ${closedText}; shutdown with 50 open`,
    };
  } finally {
    service.signal('SIGKILL');
    await receiver.close();
  }
}

function table(rows: Row[]): string {
  const lines = [
    '| scenario | runtime | requests | sent spans / logs | received spans / logs | reported lost spans / logs / points | RSS peak MB (healthy) | shutdown s | exit | notes |',
    '|---|---|---|---|---|---|---|---|---|---|',
  ];
  for (const r of rows) {
    const rss = r.rssPeakMB === undefined
      ? ''
      : r.rssHealthyPeakMB === undefined || r.rssHealthyPeakMB === r.rssPeakMB
      ? String(r.rssPeakMB)
      : `${r.rssPeakMB} (${r.rssHealthyPeakMB}: ${r.rssPeakMB - r.rssHealthyPeakMB >= 0 ? '+' : ''}${
        (r.rssPeakMB - r.rssHealthyPeakMB).toFixed(1)
      })`;
    lines.push(
      `| ${r.scenario} | ${r.runtime} | ${r.requests} | ${r.sent.spans} / ${r.sent.logs} | ${r.received.spans} / ${r.received.logs} | ${r.lost.spans} / ${r.lost.logs} / ${r.lost.points} | ${rss} | ${
        r.shutdownSeconds?.toFixed(2) ?? ''
      } | ${r.exitCode ?? ''} | ${r.note} |`,
    );
  }
  return lines.join('\n');
}

/** Whether sent = received + reported lost holds for spans and log records. */
function balanced(r: Row): boolean {
  return r.sent.spans === r.received.spans + r.lost.spans && r.sent.logs === r.received.logs + r.lost.logs;
}

const rows: Row[] = [];
const started = new Date();
for (const runtime of runtimes) {
  console.error(`bench/faults: ${runtime}: outage of ${OUTAGE_SECONDS} s beside a healthy run`);
  rows.push(...await outage(runtime));
  console.error(`bench/faults: ${runtime}: one hung request`);
  rows.push(await hungRequest(runtime));
  for (const fault of ['hung', 'dead'] as const) {
    console.error(`bench/faults: ${runtime}: SIGTERM, collector ${fault}`);
    rows.push(await shutdownWith(runtime, fault));
  }
  console.error(`bench/faults: ${runtime}: bad clients`);
  rows.push(await badClients(runtime));
}

const unbalanced = rows.filter((r) => !balanced(r));
const versions = `node ${process.versions.node}`;
const summary =
  `${started.toISOString()}, \`node bench/faults.ts${
    quick ? ' --quick' : ''
  }\`: each runtime's service with its default settings, ` +
  `${RATE} requests/s (GET /rolldice/player<n>, open loop), OTLP protobuf to tests/_otlp-receiver.ts on loopback; ` +
  `driver on ${versions}. sent = received + reported lost ${
    unbalanced.length === 0 ? 'holds in every row' : `fails in ${unbalanced.length} rows`
  }.`;
const markdown = `${summary}\n\n${table(rows)}\n`;
console.log(markdown);

mkdirSync('bench/results', { recursive: true });
writeFileSync(`bench/results/faults${quick ? '-quick' : ''}.json`, JSON.stringify({ started, rows }, null, 2) + '\n');
writeFileSync(`bench/results/faults${quick ? '-quick' : ''}.md`, markdown);
if (!quick) {
  const docs = readFileSync('docs/reliability.md', 'utf8');
  const start = '<!-- faults:start -->';
  const end = '<!-- faults:end -->';
  const at = docs.indexOf(start);
  const to = docs.indexOf(end);
  if (at < 0 || to < at) throw new Error('docs/reliability.md has no faults:start / faults:end markers');
  writeFileSync('docs/reliability.md', `${docs.slice(0, at + start.length)}\n${markdown}${docs.slice(to)}`);
}
process.exit(unbalanced.length === 0 ? 0 : 1);
