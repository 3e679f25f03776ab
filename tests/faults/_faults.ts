/**
 * What the fault suite and bench/faults.ts share: steady load on a running service, and the
 * accounting of what it sent, what the receiver took and what the service said it lost.
 */
import { connect, type Socket } from 'node:net';
import type { OtlpReceiver } from '../_otlp-receiver.ts';
import type { OtlpNumberDataPoint } from '../_otlp-decode.ts';

/** Telemetry per request of the dice service: a server span and a `roll` span, one log record. */
export const SPANS_PER_REQUEST = 2;
export const LOGS_PER_REQUEST = 1;

export interface Load {
  /** Requests answered 200 so far. */
  readonly sent: number;
  /** Requests that failed or were not answered 200. */
  readonly failed: number;
  /** Stops sending and waits for the requests in flight. */
  stop(): Promise<void>;
}

/**
 * Sends `GET /rolldice/player<n>` at `ratePerSecond`, open loop (each request at its time,
 * whatever the ones before did), until `stop()`.
 */
export function startLoad(url: string, ratePerSecond: number): Load {
  let sent = 0;
  let failed = 0;
  let stopped = false;
  const inFlight = new Set<Promise<void>>();
  const started = performance.now();
  let issued = 0;
  const tick = () => {
    if (stopped) return;
    const due = Math.floor(((performance.now() - started) / 1000) * ratePerSecond);
    for (; issued < due; issued++) {
      const n = issued;
      const request = fetch(`${url}/rolldice/player${n % 100}`)
        .then(async (response) => {
          await response.arrayBuffer();
          if (response.status === 200) sent++;
          else failed++;
        }, () => void failed++)
        .finally(() => inFlight.delete(request));
      inFlight.add(request);
    }
    timer = setTimeout(tick, 5);
  };
  let timer = setTimeout(tick, 0);
  return {
    get sent() {
      return sent;
    },
    get failed() {
      return failed;
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      await Promise.all(inFlight);
    },
  };
}

export interface Counts {
  spans: number;
  logs: number;
  /** Metric data points. */
  points: number;
}

const NOUNS: [RegExp, keyof Counts][] = [
  [/^spans?$/, 'spans'],
  [/^log records?$/, 'logs'],
  [/^metric data points?$/, 'points'],
];

function add(counts: Counts, n: number, noun: string): void {
  const key = NOUNS.find(([pattern]) => pattern.test(noun))?.[1];
  if (key) counts[key] += n;
}

/**
 * What the service said it lost, from its stderr: the `Dropped N spans: …` lines of the run and
 * the final line's `telemetry lost at shutdown: …` counts.
 */
export function reportedLoss(stderr: string): Counts {
  const counts: Counts = { spans: 0, logs: 0, points: 0 };
  for (const match of stderr.matchAll(/Dropped (\d+) (spans?|log records?|metric data points?)\b/g)) {
    add(counts, Number(match[1]), match[2]!);
  }
  const final = /telemetry lost at shutdown: (\d+) spans?, (\d+) log records?, (\d+) metric data points?/.exec(stderr);
  if (final) {
    counts.spans += Number(final[1]);
    counts.logs += Number(final[2]);
    counts.points += Number(final[3]);
  }
  return counts;
}

/** Distinct spans and log records the receiver accepted (a retry after a lost answer counts once). */
export function received(receiver: OtlpReceiver): { spans: number; logs: number; duplicates: number } {
  const spans = receiver.spans();
  const logs = receiver.logRecords();
  const spanIds = new Set(spans.map((s) => `${s.traceId}/${s.spanId}`));
  const logIds = new Set(logs.map((l) => `${l.spanId}/${l.timeUnixNano}/${JSON.stringify(l.bodyValue)}`));
  return {
    spans: spanIds.size,
    logs: logIds.size,
    duplicates: spans.length - spanIds.size + logs.length - logIds.size,
  };
}

/**
 * The latest cumulative value of `dice.rolls` the receiver took: the rolls counted. Latest by the
 * points' time, not by arrival: a retried export may arrive after a newer one (4 in flight).
 */
export function rollsCounted(receiver: OtlpReceiver): number {
  let latest: OtlpNumberDataPoint[] = [];
  let latestTime = -1n;
  for (const metric of receiver.metrics().filter((m) => m.name === 'dice.rolls')) {
    const points = metric.sum?.dataPoints ?? [];
    // One collection's points share their time.
    const time = BigInt(points[0]?.timeUnixNano ?? 0);
    if (time < latestTime) continue;
    latest = points;
    latestTime = time;
  }
  return latest.reduce((n, p) => n + Number(p.asInt), 0);
}

/** How long the service took to stop, from its final line. */
export function stoppedAfterSeconds(stderr: string): number | undefined {
  const match = /stopped after ([0-9.]+) s/.exec(stderr);
  return match ? Number(match[1]) : undefined;
}

/**
 * Opens `count` connections that send part of a request, a header line, and then one more
 * byte every `trickleMillis` (a slowloris), until they are closed; resolves once all are open.
 */
export async function openSlowClients(
  port: number,
  count: number,
  trickleMillis = 200,
): Promise<{ closedAfter: () => (number | undefined)[]; destroy(): void }> {
  const opened = performance.now();
  const closedAt: (number | undefined)[] = new Array(count).fill(undefined);
  const sockets: Socket[] = [];
  const timers: ReturnType<typeof setInterval>[] = [];
  await Promise.all(Array.from({ length: count }, (_, i) =>
    new Promise<void>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write('GET /rolldice HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: ');
        timers.push(setInterval(() => socket.writable && socket.write('a'), trickleMillis));
        resolve();
      });
      socket.on('error', () => {});
      socket.on('close', () => (closedAt[i] = performance.now() - opened));
      sockets.push(socket);
    })));
  return {
    closedAfter: () => [...closedAt],
    destroy() {
      for (const timer of timers) clearInterval(timer);
      for (const socket of sockets) socket.destroy();
    },
  };
}

/** Sends `raw` bytes on a new connection; resolves with the status line and how long it took. */
export function rawRequest(
  port: number,
  raw: string,
): Promise<{ status: number | undefined; millis: number; reset: boolean }> {
  return new Promise((resolve) => {
    const started = performance.now();
    let data = '';
    let reset = false;
    let done = false;
    const socket = connect(port, '127.0.0.1', () => socket.write(raw));
    const finish = () => {
      if (done) return;
      done = true;
      clearTimeout(timer);
      socket.destroy();
      const match = /^HTTP\/1\.[01] (\d{3})/.exec(data);
      resolve({ status: match ? Number(match[1]) : undefined, millis: performance.now() - started, reset });
    };
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      data += chunk;
      // The status line is the answer; the connection may stay open (keep-alive).
      if (/^HTTP\/1\.[01] \d{3}[^\n]*\n/.test(data)) finish();
    });
    socket.on('error', () => (reset = true));
    socket.on('close', finish);
    const timer = setTimeout(finish, 5_000);
  });
}
