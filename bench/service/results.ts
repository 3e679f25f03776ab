/** The benchmark's results: what one round measures, the summaries, and the telemetry budget. */
import type { RuntimeName } from '../lib/processes.ts';
import { formatSpread, type Spread, spread } from '../lib/stats.ts';

/** bare: OTEL_SDK_DISABLED; otlp and gzip: every signal to the sink; down: to a closed port. */
export type Mode = 'bare' | 'otlp' | 'gzip' | 'down';
export const MODES: readonly Mode[] = ['bare', 'otlp', 'gzip', 'down'];
export const MODE_LABELS: Record<Mode, string> = {
  bare: 'bare',
  otlp: 'instrumented',
  gzip: 'instrumented + gzip',
  down: 'collector down',
};

/** Spans and log records the service makes per request: the SERVER span and `roll`; one log. */
export const SPANS_PER_REQUEST = 2;
export const LOGS_PER_REQUEST = 1;

/** The budget of the issue "Benchmarks and the telemetry budget". */
export const BUDGET = {
  costMicros: 25,
  costStretchMicros: 10,
  p99Ratio: 1.5,
  coldStartExtraMillis: 150,
  /** Through the documented command, over the runtime's own hello server (issue 18). */
  coldStartOverRuntimeMillis: 100,
  coldStartOverRuntimeStretchMillis: 60,
  downRssExtraMB: 64,
};

export interface RoundSample {
  round: number;
  /** Requests answered in the measured window. */
  requests: number;
  /** Requests answered over the server's life (warm-up and measured window), as wrk counted. */
  sent: number;
  /**
   * Requests the server may have handled that wrk did not count: those in flight when each
   * wrk run stopped (at most one per connection per run).
   */
  uncounted: number;
  /** Saturation phase (wrk, closed loop): throughput, and latency that mostly mirrors it. */
  rps: number;
  p50Ms: number;
  p99Ms: number;
  /** Fixed-rate phase (bench/service/fixed-rate.ts, open loop): latency at the same rate in every mode. */
  fixedRate: FixedRateSample;
  /** Server CPU (every thread) in the measured window / requests in it. */
  cpuMicrosPerRequest: number;
  /** The part of it spent in the kernel (/proc/PID/stat stime, clock-tick precision). */
  kernelMicrosPerRequest: number;
  cpuSource: 'schedstat' | 'stat';
  /** VmRSS right after the measured window. */
  rssMB: number;
  /** What the sink counted over the server's life, final flush included. */
  received: { spans: number; logs: number; metricPoints: number; requests: number; wireBytes: number };
  loadErrors: number;
  shutdown: { code: number | string; millis: number; killed: boolean };
}

/** One fixed-rate phase; latencies from each request's intended send time. */
export interface FixedRateSample {
  rate: number;
  /** Answered per second: below `rate`, the server fell behind and its latency is queueing. */
  achievedRate: number;
  p50Ms: number;
  p99Ms: number;
  maxMs: number;
  /** Non-200 answers, socket errors and timeouts in the measured window. */
  errors: number;
  /** How late the generator itself sent (p99): a floor under the latencies, alike in every mode. */
  sendLagP99Ms: number;
}

export interface ModeSummary {
  rps?: Spread;
  p50Ms?: Spread;
  p99Ms?: Spread;
  rateP50Ms?: Spread;
  rateP99Ms?: Spread;
  rateMaxMs?: Spread;
  cpuMicrosPerRequest?: Spread;
  kernelMicrosPerRequest?: Spread;
  rssMB?: Spread;
  /** Received / expected, in [0, 1]; 1 - this is what the batch processors dropped. */
  spansReceived?: Spread;
  logsReceived?: Spread;
}

export interface BudgetCheck {
  name: string;
  limit: string;
  value: string;
  /** undefined: not measured in this run. */
  pass: boolean | undefined;
  note?: string;
}

export interface RuntimeResult {
  runtime: RuntimeName;
  /** The documented start command measured, wrappers included, e.g. `npm start`. */
  command?: string;
  version: string;
  samples: Partial<Record<Mode, RoundSample[]>>;
  summary: Partial<Record<Mode, ModeSummary>>;
  /** Paired per round: the mode's CPU µs per request minus bare's. */
  telemetryCostMicros: Partial<Record<Exclude<Mode, 'bare'>, Spread>>;
  /** hello: the runtime's own hello server (bench/service/hello.js), the floor. */
  coldStartMs: { hello?: Spread; bare?: Spread; instrumented?: Spread };
  budget: BudgetCheck[];
}

export interface BenchResults {
  kind: 'rolldice-bench';
  date: string;
  machine: { cpus: number; cpuModel: string; kernel: string; clockTicks: number };
  settings: {
    rounds: number;
    durationSeconds: number;
    warmupSeconds: number;
    connections: number;
    /** The fixed-rate phase: req/s, seconds, keep-alive sockets. */
    rate: number;
    rateSeconds: number;
    rateSockets: number;
    path: string;
    coldStarts: number;
    modes: Mode[];
    pinning: string;
    loadGenerator: string;
  };
  runtimes: RuntimeResult[];
  /** What could not be measured. */
  errors: string[];
  /** What was measured but is worth telling, e.g. a slow shutdown. */
  notes: string[];
}

export function summarize(samples: readonly RoundSample[], mode: Mode): ModeSummary {
  const of = (pick: (s: RoundSample) => number) => spread(samples.map(pick));
  const instrumented = mode === 'otlp' || mode === 'gzip';
  return {
    rps: of((s) => s.rps),
    p50Ms: of((s) => s.p50Ms),
    p99Ms: of((s) => s.p99Ms),
    rateP50Ms: of((s) => s.fixedRate.p50Ms),
    rateP99Ms: of((s) => s.fixedRate.p99Ms),
    rateMaxMs: of((s) => s.fixedRate.maxMs),
    cpuMicrosPerRequest: of((s) => s.cpuMicrosPerRequest),
    kernelMicrosPerRequest: of((s) => s.kernelMicrosPerRequest),
    rssMB: of((s) => s.rssMB),
    ...(instrumented
      ? {
        spansReceived: of((s) => receivedRatio(s.received.spans, s, SPANS_PER_REQUEST)),
        logsReceived: of((s) => receivedRatio(s.received.logs, s, LOGS_PER_REQUEST)),
      }
      : {}),
  };
}

/**
 * Received / expected. The expected count is known within [sent, sent + uncounted] requests:
 * inside that range nothing was lost (1); below it the shortfall was dropped; above it, 1+
 * says items arrived twice.
 */
export function receivedRatio(
  received: number,
  s: Pick<RoundSample, 'sent' | 'uncounted'>,
  perRequest: number,
): number {
  const low = s.sent * perRequest;
  const high = (s.sent + s.uncounted) * perRequest;
  return received / Math.min(Math.max(received, low), high);
}

/** Per round, the instrumented figure minus the bare one of the same round. */
export function pairedCost(
  bare: readonly RoundSample[] = [],
  instrumented: readonly RoundSample[] = [],
): Spread | undefined {
  const byRound = new Map(bare.map((s) => [s.round, s.cpuMicrosPerRequest]));
  return spread(instrumented.flatMap((s) => {
    const floor = byRound.get(s.round);
    return floor === undefined ? [] : [s.cpuMicrosPerRequest - floor];
  }));
}

/**
 * `rate`: the fixed-rate phase's req/s. The p99 check compares bare and instrumented at that
 * same rate; at saturation the ratio would mostly be the ratio of throughputs.
 */
export function checkBudget(r: Omit<RuntimeResult, 'budget'>, rate: number): BudgetCheck[] {
  const checks: BudgetCheck[] = [];
  const cost = r.telemetryCostMicros.otlp;
  checks.push({
    name: 'telemetry CPU per request',
    limit: `≤ ${BUDGET.costMicros} µs (stretch ${BUDGET.costStretchMicros})`,
    value: cost ? `${formatSpread(cost, 1)} µs` : '–',
    pass: cost ? cost.median <= BUDGET.costMicros : undefined,
    ...(cost && cost.median <= BUDGET.costStretchMicros ? { note: 'stretch met' } : {}),
  });

  const bareP99 = r.summary.bare?.rateP99Ms?.median;
  const p99 = r.summary.otlp?.rateP99Ms?.median;
  const ratio = bareP99 && p99 !== undefined ? p99 / bareP99 : undefined;
  checks.push({
    name: `instrumented p99 / bare p99 at ${rate} req/s (fixed rate)`,
    limit: `≤ ${BUDGET.p99Ratio}×`,
    value: ratio === undefined ? '–' : `${p99!.toFixed(2)} / ${bareP99!.toFixed(2)} ms = ${ratio.toFixed(2)}×`,
    pass: ratio === undefined ? undefined : ratio <= BUDGET.p99Ratio,
  });

  const cold = r.coldStartMs;
  const extra = cold.bare && cold.instrumented ? cold.instrumented.median - cold.bare.median : undefined;
  checks.push({
    name: 'cold start, instrumented − bare',
    limit: `≤ ${BUDGET.coldStartExtraMillis} ms`,
    value: extra === undefined ? '–' : `${extra.toFixed(0)} ms`,
    pass: extra === undefined ? undefined : extra <= BUDGET.coldStartExtraMillis,
  });

  const overRuntime = cold.hello && cold.instrumented ? cold.instrumented.median - cold.hello.median : undefined;
  checks.push({
    name: "cold start, instrumented − the runtime's hello server",
    limit: `≤ ${BUDGET.coldStartOverRuntimeMillis} ms (stretch ${BUDGET.coldStartOverRuntimeStretchMillis})`,
    value: overRuntime === undefined
      ? '–'
      : `${cold.instrumented!.median.toFixed(0)} − ${cold.hello!.median.toFixed(0)} = ${overRuntime.toFixed(0)} ms`,
    pass: overRuntime === undefined ? undefined : overRuntime <= BUDGET.coldStartOverRuntimeMillis,
    ...(overRuntime !== undefined && overRuntime <= BUDGET.coldStartOverRuntimeStretchMillis
      ? { note: 'stretch met' }
      : {}),
  });

  const healthy = r.summary.otlp?.rssMB?.median;
  const down = r.summary.down?.rssMB?.median;
  const rss = healthy !== undefined && down !== undefined ? down - healthy : undefined;
  checks.push({
    name: 'RSS, collector down − healthy',
    limit: `≤ ${BUDGET.downRssExtraMB} MB`,
    value: rss === undefined ? '–' : `${down!.toFixed(0)} − ${healthy!.toFixed(0)} = ${rss.toFixed(1)} MB`,
    pass: rss === undefined ? undefined : rss <= BUDGET.downRssExtraMB,
  });
  return checks;
}

/** How a row is named: its start command when it has one (runs before issue 18 have none). */
export const rowLabel = (r: Pick<RuntimeResult, 'runtime' | 'command'>): string => r.command ?? r.runtime;
