/**
 * An open-loop load generator: GET `url` at a fixed rate for a fixed time, and the latency
 * distribution at that rate. Run as its own process (pinned to core 1 by load.ts):
 *
 *   node bench/service/fixed-rate.ts URL RATE SECONDS SOCKETS   prints one line "##rate {json}"
 *
 * Why not wrk: wrk is closed loop (each connection waits for its answer before sending
 * again), so a slower server is simply sent less and its latency is roughly connections /
 * throughput; wrk2, its fixed-rate fork, is not in Debian. Here request i is due at
 * start + i / RATE whatever the server does, and its latency is measured from that *intended*
 * time, not from when it could actually be sent: when the server stalls, the requests queued
 * behind the stall count their whole wait (no coordinated omission).
 *
 * Requests go over SOCKETS keep-alive connections (a node:http Agent), opened before the clock
 * starts so that no TCP handshake lands in the figures, and the schedule runs 0.5 s before the
 * measured window, uncounted, while this process's own JIT warms up. Every request has a timeout, and the
 * process exits by itself once the last one is answered or has timed out.
 */
import { Agent, request } from 'node:http';
import process from 'node:process';

export interface FixedRateResult {
  /** The rate asked for, req/s. */
  rate: number;
  seconds: number;
  sockets: number;
  /** Requests due in the measured window (rate × seconds), all of them sent; the warm-up's are not counted. */
  sent: number;
  /** Answered with a 200. */
  ok: number;
  /** Answered with another status, failed on the socket, or timed out. */
  errors: number;
  timeouts: number;
  /** Requests answered per second of the window, drain included: below `rate`, the server fell behind. */
  achievedRate: number;
  /** From the intended send time to the end of the answer; errors count with their time to failure. */
  latencyMs: { p50: number; p90: number; p99: number; p999: number; max: number };
  /**
   * p99 of how late this generator itself issued requests (timer granularity, its own GC): a
   * floor under every latency above, the same for every mode.
   */
  sendLagP99Ms: number;
  /**
   * Over the whole run, connection opening and warm-up included: requests answered (any
   * status) and failed on the socket, for the benchmark's count of what the server handled.
   */
  lifetime: { answered: number; failed: number };
}

/** A request that has not been answered this long after its intended time counts as failed. */
const TIMEOUT_MILLIS = 5_000;
/**
 * The schedule starts this long before the measured window and its requests are not counted:
 * this process's own JIT and first timers would otherwise be most of the tail.
 */
const WARMUP_SECONDS = 0.5;
/** How often the scheduler wakes; requests due meanwhile leave together, each with its own intended time. */
const TICK_MILLIS = 1;

function percentile(sorted: Float64Array, p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

function get(agent: Agent, url: string, timeoutMillis: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent, timeout: timeoutMillis }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(Object.assign(new Error('timeout'), { code: 'TIMEOUT' })));
    req.on('error', reject);
    req.end();
  });
}

export async function fixedRate(url: string, rate: number, seconds: number, sockets: number): Promise<FixedRateResult> {
  const agent = new Agent({ keepAlive: true, maxSockets: sockets, maxFreeSockets: sockets });
  // Open every connection first: as many requests at once as there are sockets.
  await Promise.all(Array.from({ length: sockets }, () => get(agent, url, TIMEOUT_MILLIS)));
  const lifetime = { answered: sockets, failed: 0 };

  const skipped = Math.round(rate * WARMUP_SECONDS);
  const measured = Math.round(rate * seconds);
  const total = skipped + measured;
  const latencies = new Float64Array(total);
  const lags = new Float64Array(total);
  let ok = 0;
  let errors = 0;
  let timeouts = 0;
  let done = 0;
  let allDone!: () => void;
  const finished = new Promise<void>((resolve) => (allDone = resolve));

  const start = performance.now();
  const intended = (i: number) => start + (i * 1000) / rate;
  let next = 0;
  const send = (i: number) => {
    const due = intended(i);
    lags[i] = performance.now() - due;
    // The timeout runs from the intended time too, so that a queued request cannot wait longer.
    const counted = i >= skipped;
    get(agent, url, Math.max(1, TIMEOUT_MILLIS - lags[i]!)).then(
      (status) => {
        lifetime.answered++;
        if (!counted) return;
        if (status === 200) ok++;
        else errors++;
      },
      (error: NodeJS.ErrnoException) => {
        lifetime.failed++;
        if (!counted) return;
        errors++;
        if (error.code === 'TIMEOUT') timeouts++;
      },
    ).finally(() => {
      latencies[i] = performance.now() - due;
      if (++done === total) allDone();
    });
  };
  // A timer, not a spin: this process shares its core with the OTLP sink.
  await new Promise<void>((resolve) => {
    const tick = () => {
      const now = performance.now();
      while (next < total && intended(next) <= now) send(next++);
      if (next < total) setTimeout(tick, TICK_MILLIS);
      else resolve();
    };
    tick();
  });
  await finished;
  const elapsedSeconds = (performance.now() - intended(skipped)) / 1000;
  agent.destroy();

  const inWindow = latencies.subarray(skipped).sort();
  const lagWindow = lags.subarray(skipped).sort();
  return {
    rate,
    seconds,
    sockets,
    sent: measured,
    ok,
    errors,
    timeouts,
    achievedRate: ok / Math.max(elapsedSeconds, seconds),
    latencyMs: {
      p50: percentile(inWindow, 50),
      p90: percentile(inWindow, 90),
      p99: percentile(inWindow, 99),
      p999: percentile(inWindow, 99.9),
      max: inWindow[measured - 1] ?? Number.NaN,
    },
    sendLagP99Ms: percentile(lagWindow, 99),
    lifetime,
  };
}

if (import.meta.main) {
  const [url, rate, seconds, sockets] = process.argv.slice(2);
  if (!url || !(Number(rate) > 0) || !(Number(seconds) > 0) || !(Number(sockets) >= 1)) {
    console.error('usage: node bench/service/fixed-rate.ts URL RATE SECONDS SOCKETS');
    process.exit(2);
  }
  const result = await fixedRate(url, Number(rate), Number(seconds), Math.round(Number(sockets)));
  console.log(`##rate ${JSON.stringify(result)}`);
}
