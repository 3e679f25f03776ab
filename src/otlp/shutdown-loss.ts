/**
 * What a shutdown could not deliver, counted per signal and said in one line: the exporters
 * reject their `shutdown()` with a {@link LostAtShutdownError}, and {@link settleShutdown}
 * joins those of every signal into one error.
 */
import type { OtlpHealth, TelemetrySignal } from './self-metrics.ts';

const ORDER: readonly TelemetrySignal[] = ['traces', 'logs', 'metrics'];
const NOUNS: Record<TelemetrySignal, readonly [string, string]> = {
  traces: ['span', 'spans'],
  logs: ['log record', 'log records'],
  metrics: ['metric data point', 'metric data points'],
};

function items(signal: TelemetrySignal, count: number): string {
  const [singular, plural] = NOUNS[signal];
  return `${count} ${count === 1 ? singular : plural}`;
}

/** The items of one signal an exporter held when its shutdown time ran out, and why they were not delivered. */
export class LostAtShutdownError extends Error {
  override name = 'LostAtShutdownError';
  readonly signal: TelemetrySignal;
  readonly count: number;
  readonly reason: string;

  constructor(signal: TelemetrySignal, noun: readonly [string, string], count: number, reason: string) {
    super(`${count} ${count === 1 ? noun[0] : noun[1]} not delivered at shutdown: ${reason}`);
    this.signal = signal;
    this.count = count;
    this.reason = reason;
  }
}

/** The error {@link settleShutdown} rejects with when telemetry was lost: its counts, per signal. */
export interface TelemetryLostError extends Error {
  lostAtShutdown: Record<TelemetrySignal, number>;
}

/**
 * Waits for every shutdown, then rejects with one error if any failed: the items lost at
 * shutdown counted per signal in one sentence (a {@link TelemetryLostError}), with `health`'s
 * count of everything lost since the start, and any other error after it.
 *
 * @example
 * "telemetry lost at shutdown: 1740 spans, 870 log records, 0 metric data points (the collector
 * at http://collector:4318/v1/traces did not answer within 10000 ms); lost since start: 1740
 * spans, 870 log records, 0 metric data points"
 */
export async function settleShutdown(promises: Promise<unknown>[], health?: OtlpHealth): Promise<void> {
  const errors = (await Promise.allSettled(promises))
    .filter((r): r is PromiseRejectedResult => r.status === 'rejected')
    .flatMap((r) => (r.reason instanceof AggregateError ? r.reason.errors : [r.reason]));
  if (errors.length === 0) return;
  const lost = errors.filter((e): e is LostAtShutdownError => e instanceof LostAtShutdownError);
  const others = errors.filter((e) => !(e instanceof LostAtShutdownError));
  if (lost.length === 0) throw new AggregateError(others, 'Cannot shut down telemetry');
  const count = (signal: TelemetrySignal) => lost.reduce((n, e) => n + (e.signal === signal ? e.count : 0), 0);
  const reasons = [...new Set(lost.map((e) => e.reason))];
  let message = `telemetry lost at shutdown: ${ORDER.map((s) => items(s, count(s))).join(', ')} (${
    reasons.join('; ')
  })`;
  if (health) message += `; lost since start: ${ORDER.map((s) => items(s, health.lost(s))).join(', ')}`;
  if (others.length > 0) {
    message += `; also: ${others.map((e) => (e instanceof Error ? e.message : String(e))).join('; ')}`;
  }
  const error = new Error(message) as TelemetryLostError;
  error.lostAtShutdown = { traces: count('traces'), logs: count('logs'), metrics: count('metrics') };
  throw error;
}
