/**
 * Counts the telemetry an exporter gives up on and says so through `diag.warn`, at most once
 * per interval: the first loss at once, later ones summed up when the interval is over (or at
 * shutdown), so that a collector that is down costs one line per interval, not one per batch.
 */
import { diag } from '@opentelemetry/api';

export interface LossReporter {
  /** Records `count` items given up for `reason`, e.g. "the collector at … answered 503". */
  record(count: number, reason: string): void;
  /** Reports what is pending and stops the timer, for shutdown; later losses are reported at once. */
  flush(): void;
}

/** Cancels a timer that `setTimer` started. */
export type CancelTimer = () => void;

export interface LossReporterOptions {
  /** What is counted, singular and plural: `['span', 'spans']`. */
  noun: readonly [singular: string, plural: string];
  /** @default 10000 */
  intervalMillis?: number;
  /** A monotonic clock in milliseconds. @default performance.now */
  now?: () => number;
  /** Starts a one-shot timer. @default setTimeout, unref'd where the runtime allows */
  setTimer?: (callback: () => void, millis: number) => CancelTimer;
  /** @default diag.warn */
  report?: (message: string) => void;
}

/** Distinct reasons kept per interval; more are counted as "something else failed". */
const MAX_REASONS = 8;

function defaultSetTimer(callback: () => void, millis: number): CancelTimer {
  const timer: unknown = setTimeout(callback, millis);
  // A pending report must not keep the process alive; Node and Bun timers can be unref'd.
  (timer as { unref?: () => void }).unref?.();
  return () => clearTimeout(timer as ReturnType<typeof setTimeout>);
}

class IntervalLossReporter implements LossReporter {
  #singular: string;
  #plural: string;
  #interval: number;
  #now: () => number;
  #setTimer: (callback: () => void, millis: number) => CancelTimer;
  #report: (message: string) => void;
  /** Items per reason since the last report, in first-seen order. */
  #pending = new Map<string, number>();
  #lastReportAt: number | undefined;
  #cancelTimer: CancelTimer | undefined;
  /** After `flush()`: report every loss at once, so that no timer outlives the exporter. */
  #closed = false;

  constructor(options: LossReporterOptions) {
    [this.#singular, this.#plural] = options.noun;
    this.#interval = options.intervalMillis ?? 10_000;
    this.#now = options.now ?? (() => performance.now());
    this.#setTimer = options.setTimer ?? defaultSetTimer;
    this.#report = options.report ?? ((message) => diag.warn(message));
  }

  record(count: number, reason: string): void {
    if (!(count > 0)) return;
    const key = this.#pending.has(reason) || this.#pending.size < MAX_REASONS ? reason : 'something else failed';
    this.#pending.set(key, (this.#pending.get(key) ?? 0) + count);
    const sinceLast = this.#lastReportAt === undefined ? Infinity : this.#now() - this.#lastReportAt;
    if (this.#closed || sinceLast >= this.#interval) this.#emit();
    else {this.#cancelTimer ??= this.#setTimer(() => {
        this.#cancelTimer = undefined;
        this.#emit();
      }, this.#interval - sinceLast);}
  }

  flush(): void {
    this.#closed = true;
    this.#cancelTimer?.();
    this.#cancelTimer = undefined;
    this.#emit();
  }

  #emit(): void {
    if (this.#pending.size === 0) return;
    let total = 0;
    for (const count of this.#pending.values()) total += count;
    const items = (n: number) => `${n} ${n === 1 ? this.#singular : this.#plural}`;
    const reasons = this.#pending.size === 1
      ? [...this.#pending.keys()][0]!
      : [...this.#pending].map(([reason, count]) => `${count} as ${reason}`).join('; ');
    this.#pending.clear();
    this.#lastReportAt = this.#now();
    this.#report(`Dropped ${items(total)}: ${reasons}`);
  }
}

export function createLossReporter(options: LossReporterOptions): LossReporter {
  return new IntervalLossReporter(options);
}
