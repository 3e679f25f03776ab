/**
 * The outage buffer behind each OTLP exporter: the encoded requests it was handed and has not
 * delivered yet, sent oldest first and kept through a collector's outage.
 *
 * A retryable answer (429, 502, 503, 504, no answer, a request that ran out of its time) puts
 * the request back in its place and pauses the exporter, with exponential backoff and jitter,
 * or as long as `Retry-After` says (the OTLP exporter spec's "Retry"); then one request at a
 * time goes until one is delivered, and the rest follow in order. Nothing is given up for being
 * old: the bound is the bytes held, shared by every exporter of a `DeliveryBudget`, and a
 * request that does not fit pushes out the oldest one waiting, of any signal, which is counted
 * as lost. Any other answer drops the request at once. `close()` spends at most its time
 * delivering, then gives up on what is left. Written here because the Collector's sending
 * queue has no counterpart in otlp-exporter-base, whose retries end with each export.
 */
import { diag } from '@opentelemetry/api';
import { describeError } from '../errors.ts';
import { type ExportError, exportError } from './export-error.ts';
import type { SendResult } from './fetch-transport.ts';
import type { CancelTimer } from './loss-reporter.ts';

/**
 * How long an OTLP exporter pauses after a retryable failure (429, 502, 503, 504, a timeout, no
 * answer) before it tries again: `initialBackoffMillis`, times `backoffMultiplier` for each
 * further failure in a row, up to `maxBackoffMillis`, with jitter; a collector's `Retry-After`
 * wins. Requests are not given up for their age: they wait, within the {@link DeliveryBudget}.
 */
export interface BackoffOptions {
  /** The pause after the first retryable failure, before jitter. @default 1000 */
  initialBackoffMillis?: number;
  /** The longest pause, before jitter. @default 5000 */
  maxBackoffMillis?: number;
  /** What each further failure in a row multiplies the pause by. @default 1.5 */
  backoffMultiplier?: number;
  /** Each pause is the backoff times a random factor in [1 - jitter, 1 + jitter]. @default 0.2 */
  jitter?: number;
  /** A number in [0, 1), for the jitter: a fixed one makes pauses predictable in tests. @default Math.random */
  random?: () => number;
}

/** One encoded request the queue holds, as its callbacks see it. */
export interface HeldBatch {
  readonly body: Uint8Array;
  /** Spans, log records or metric data points in it. */
  readonly count: number;
  /** Requests sent with it so far. */
  readonly attempts: number;
}

export interface DeliveryQueueOptions extends BackoffOptions {
  /** Sends one request, abandoned after `timeoutMillis` or when `signal` aborts; never rejects. */
  send(body: Uint8Array, timeoutMillis: number, signal: AbortSignal): Promise<SendResult>;
  /** Aborts the requests in flight, for `close()`. */
  abort(): void;
  budget: DeliveryBudget;
  /** What each request may take, at most. */
  attemptTimeoutMillis: number;
  /** Requests in flight while the collector answers. @default 4 */
  concurrency?: number;
  /** Who is sent to, for the outage warnings. */
  endpoint: string;
  /** A 2xx answer, with its body when there was one. */
  onDelivered(batch: HeldBatch, data: Uint8Array | undefined): void;
  /** A request given up: refused, pushed out of a full buffer, or left at `close()` (`atClose`). */
  onLost(batch: HeldBatch, error: ExportError, atClose: boolean): void;
  /** A monotonic clock in milliseconds. @default performance.now */
  now?: () => number;
  /** Starts a one-shot timer. @default setTimeout, unref'd for pauses */
  setTimer?: (callback: () => void, millis: number) => CancelTimer;
}

/**
 * What the OTLP exporters given the same budget share: the bound on the bytes they hold
 * together for a collector that does not take them, and the time their shutdown ends by. Made
 * by {@link createDeliveryBudget}, the only kind the exporters take.
 */
export interface DeliveryBudget {
  /** The most bytes of encoded requests the exporters sharing it hold together. */
  readonly maxBytes: number;
  /** The bytes they hold now, waiting or being sent. */
  readonly heldBytes: number;
  /**
   * Starts the shutdown clock: every flush and close of the queues sharing the budget ends
   * within `timeoutMillis` from now, however many of them a shutdown runs one after another
   * (a processor or metric reader flushes its exporter, then shuts it down).
   */
  beginShutdown(timeoutMillis: number, now?: () => number): void;
}

/** Attempts shorter than this are not worth starting near a deadline. */
const MIN_ATTEMPT_MILLIS = 50;

interface Batch extends HeldBatch {
  attempts: number;
  /** Order of arrival across all queues of the budget: the oldest is the smallest. */
  seq: number;
  /** What its last attempt came to, when it failed. */
  lastError?: ExportError;
  /** Its last attempt was given less than the attempt timeout, for a deadline. */
  capped?: boolean;
}

interface Attempt {
  abort: AbortController;
  /** When it times out, on the queue's clock. */
  endsAt: number;
  /** Cancels the timer that abandons it early, for a deadline that came after it started. */
  cancelCap?: CancelTimer;
}

class Budget implements DeliveryBudget {
  readonly maxBytes: number;
  heldBytes = 0;
  /** When the shutdown ends, on the clock beginShutdown() was given. */
  shutdownDeadline: number | undefined;
  #seq = 0;
  readonly queues = new Set<Queue>();

  constructor(maxBytes: number) {
    this.maxBytes = maxBytes;
  }

  beginShutdown(timeoutMillis: number, now: () => number = () => performance.now()): void {
    this.shutdownDeadline ??= now() + timeoutMillis;
  }

  nextSeq(): number {
    return ++this.#seq;
  }

  get lastSeq(): number {
    return this.#seq;
  }

  /** Makes room for `bytes`, pushing out the oldest waiting requests first; false when it cannot. */
  reserve(bytes: number): boolean {
    while (this.heldBytes + bytes > this.maxBytes) {
      let oldest: Queue | undefined;
      for (const queue of this.queues) {
        const seq = queue.oldestWaitingSeq();
        if (seq !== undefined && (oldest === undefined || seq < oldest.oldestWaitingSeq()!)) oldest = queue;
      }
      if (oldest === undefined) break;
      oldest.evictOldest();
    }
    // A request bigger than the whole bound still goes when nothing else is held.
    if (this.heldBytes + bytes > this.maxBytes && this.heldBytes > 0) return false;
    this.heldBytes += bytes;
    return true;
  }
}

function startTimer(callback: () => void, millis: number, keepAlive: boolean): CancelTimer {
  const timer: unknown = setTimeout(callback, millis);
  // A pause must not keep the process alive, a flush being waited for must; Node and Bun
  // timers can be unref'd (Deno's are numbers).
  if (!keepAlive) (timer as { unref?: () => void }).unref?.();
  return () => clearTimeout(timer as ReturnType<typeof setTimeout>);
}

/** Retryable failures in a row before the outage is worth a warning: one 503 now and then is not. */
const FAILURES_TO_WARN = 3;

function formatMillis(millis: number): string {
  return millis >= 1000 ? `${(millis / 1000).toFixed(millis % 1000 === 0 ? 0 : 1)} s` : `${Math.round(millis)} ms`;
}

class Queue implements DeliveryQueue {
  #options: DeliveryQueueOptions;
  #budget: Budget;
  #concurrency: number;
  #initialBackoff: number;
  #maxBackoff: number;
  #multiplier: number;
  #jitter: number;
  #random: () => number;
  #now: () => number;
  #setTimer: (callback: () => void, millis: number) => CancelTimer;
  #setFlushTimer: (callback: () => void, millis: number) => CancelTimer;
  /** Not in flight, oldest first; a request that failed goes back to its place. */
  #waiting: Batch[] = [];
  #inFlight = new Map<Batch, Attempt>();
  #heldBytes = 0;
  #heldItems = 0;
  /** Retryable failures since the last delivery. */
  #failures = 0;
  /** After a retryable failure, one request at a time until one is delivered. */
  #probing = false;
  #pauseUntil = 0;
  #pausedByCollector = false;
  #cancelPause: CancelTimer | undefined;
  /** The latest retryable failure, to say why requests were left at close. */
  #lastError: ExportError | undefined;
  /** The deadline of each flush in progress: attempts get at most half of the time left. */
  #deadlines: number[] = [];
  #flushWaiters = new Set<{ seq: number; resolve: () => void }>();
  #closing = false;
  #closed = false;

  constructor(options: DeliveryQueueOptions) {
    this.#options = options;
    this.#budget = options.budget as Budget;
    this.#concurrency = Math.max(1, options.concurrency ?? 4);
    this.#initialBackoff = options.initialBackoffMillis ?? 1000;
    this.#maxBackoff = options.maxBackoffMillis ?? 5000;
    this.#multiplier = options.backoffMultiplier ?? 1.5;
    this.#jitter = options.jitter ?? 0.2;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? (() => performance.now());
    this.#setTimer = options.setTimer ?? ((callback, millis) => startTimer(callback, millis, false));
    this.#setFlushTimer = options.setTimer ?? ((callback, millis) => startTimer(callback, millis, true));
    this.#budget.queues.add(this);
  }

  get heldItems(): number {
    return this.#heldItems;
  }

  get heldBytes(): number {
    return this.#heldBytes;
  }

  add(body: Uint8Array, count: number): boolean {
    const batch: Batch = { body, count, attempts: 0, seq: 0 };
    if (this.#closing) {
      this.#options.onLost(
        batch,
        exportError(`the exporter to ${this.#options.endpoint} is shut down`, 'shutdown'),
        false,
      );
      return false;
    }
    if (!this.#budget.reserve(body.byteLength)) {
      this.#options.onLost(batch, this.#fullError(this.#lastError, false), false);
      return false;
    }
    batch.seq = this.#budget.nextSeq();
    this.#heldBytes += body.byteLength;
    this.#heldItems += count;
    this.#waiting.push(batch);
    this.#pump();
    return true;
  }

  oldestWaitingSeq(): number | undefined {
    return this.#waiting[0]?.seq;
  }

  evictOldest(): void {
    const batch = this.#waiting.shift();
    if (batch === undefined) return;
    this.#release(batch);
    this.#options.onLost(batch, this.#fullError(batch.lastError ?? this.#lastError, batch.attempts > 0), false);
    this.#settleFlushes();
  }

  async flush(timeoutMillis: number): Promise<boolean> {
    const seq = this.#budget.lastSeq;
    if (this.#doneUpTo(seq)) return true;
    const deadline = Math.min(this.#now() + timeoutMillis, this.#budget.shutdownDeadline ?? Infinity);
    timeoutMillis = Math.max(0, deadline - this.#now());
    this.#deadlines.push(deadline);
    this.#capInFlight();
    // A backoff of our own is cut short to try now; a pause the collector asked for is not.
    if (!this.#pausedByCollector) this.#endPause();
    this.#pump();
    let waiter: { seq: number; resolve: () => void } | undefined;
    let cancel: CancelTimer | undefined;
    try {
      await new Promise<void>((resolve) => {
        waiter = { seq, resolve };
        this.#flushWaiters.add(waiter);
        cancel = this.#setFlushTimer(resolve, Math.max(0, timeoutMillis));
      });
    } finally {
      cancel?.();
      if (waiter) this.#flushWaiters.delete(waiter);
      this.#deadlines.splice(this.#deadlines.indexOf(deadline), 1);
    }
    return this.#doneUpTo(seq);
  }

  async close(timeoutMillis: number): Promise<void> {
    if (this.#closing) return;
    this.#closing = true;
    await this.flush(timeoutMillis); // within the budget's shutdown deadline, when there is one
    this.#closed = true;
    this.#endPause();
    for (const batch of this.#waiting.splice(0)) this.#loseAtClose(batch, undefined);
    if (this.#inFlight.size > 0) {
      const settled = new Promise<void>((resolve) => this.#flushWaiters.add({ seq: Infinity, resolve }));
      this.#options.abort();
      await settled;
    }
    this.#budget.queues.delete(this);
  }

  /** Why a request was pushed out of the buffer; `attempted`: it was sent, and `cause` is its answer. */
  #fullError(cause: ExportError | undefined, attempted: boolean): ExportError {
    const why = cause ? `; last attempt: ${cause.reason}` : '';
    return exportError(
      `the ${this.#budget.maxBytes}-byte outage buffer (ROLLDICE_OTLP_BUFFER_BYTES) was full${why}`,
      // The semantic conventions: error.type is the cause of the last attempt, if there was one.
      (attempted ? cause?.errorType : undefined) ?? 'buffer_full',
    );
  }

  #pump(): void {
    if (this.#closed || this.#now() < this.#pauseUntil) return;
    const limit = this.#probing ? 1 : this.#concurrency;
    while (this.#inFlight.size < limit && this.#waiting.length > 0) {
      const timeout = this.#attemptTimeout();
      if (timeout === undefined) return;
      this.#attempt(this.#waiting.shift()!, timeout);
    }
  }

  /** The attempt timeout, capped near a flush's deadline; undefined when there is no time left. */
  #attemptTimeout(): number | undefined {
    let timeout = this.#options.attemptTimeoutMillis;
    if (this.#deadlines.length > 0) {
      const left = Math.min(...this.#deadlines) - this.#now();
      // Half of what is left, so that a request that hangs can still be sent again in time.
      timeout = Math.min(timeout, left / 2);
      if (timeout < MIN_ATTEMPT_MILLIS) return left > 0 ? Math.min(left, MIN_ATTEMPT_MILLIS) : undefined;
    }
    return timeout;
  }

  /** Requests sent before a deadline came get, like new ones, at most half of the time left. */
  #capInFlight(): void {
    const now = this.#now();
    const limit = now + (Math.min(...this.#deadlines) - now) / 2;
    for (const [batch, attempt] of this.#inFlight) {
      if (attempt.endsAt <= limit) continue;
      attempt.cancelCap?.();
      attempt.endsAt = limit;
      attempt.cancelCap = this.#setTimer(() => attempt.abort.abort(), limit - now);
      batch.capped = true;
    }
  }

  #attempt(batch: Batch, timeoutMillis: number): void {
    const attempt: Attempt = { abort: new AbortController(), endsAt: this.#now() + timeoutMillis };
    this.#inFlight.set(batch, attempt);
    batch.attempts++;
    batch.capped = timeoutMillis < this.#options.attemptTimeoutMillis;
    this.#options.send(batch.body, timeoutMillis, attempt.abort.signal).then(
      (result) => this.#settle(batch, result),
      (error) =>
        this.#settle(batch, {
          status: 'retryable',
          error: exportError(`could not send to ${this.#options.endpoint}: ${describeError(error)}`, '_OTHER', error),
        }),
    );
  }

  #settle(batch: Batch, result: SendResult): void {
    this.#inFlight.get(batch)?.cancelCap?.();
    this.#inFlight.delete(batch);
    if (result.status === 'success') {
      if (this.#failures >= FAILURES_TO_WARN && !this.#closed) {
        diag.info(`The collector at ${this.#options.endpoint} answers again; sending what was held for it`);
      }
      this.#failures = 0;
      this.#probing = false;
      this.#release(batch);
      this.#options.onDelivered(batch, result.data);
    } else if (this.#closed) {
      this.#loseAtClose(batch, result.error);
    } else if (result.status === 'failure') {
      this.#release(batch);
      this.#options.onLost(batch, result.error, false);
    } else {
      this.#retryLater(batch, result.error, result.retryInMillis);
    }
    this.#settleFlushes();
    this.#pump();
  }

  #retryLater(batch: Batch, failure: ExportError, retryInMillis: number | undefined): void {
    let error = failure;
    if (batch.capped && error.errorType === 'timeout') {
      // Cut short by a deadline: it says less about the collector than what it said before.
      error = batch.lastError ?? this.#lastError ??
        exportError(
          `the collector at ${this.#options.endpoint} did not answer before the time to flush ran out`,
          'timeout',
        );
    }
    batch.lastError = error;
    this.#lastError = error;
    let at = this.#waiting.findIndex((waiting) => waiting.seq > batch.seq);
    if (at < 0) at = this.#waiting.length;
    this.#waiting.splice(at, 0, batch);
    this.#failures++;
    if (this.#failures === FAILURES_TO_WARN) {
      diag.warn(
        `Holding telemetry for the collector at ${this.#options.endpoint}, up to ${this.#budget.maxBytes} bytes, ` +
          `and retrying: ${error.reason}`,
      );
    }
    this.#probing = true;
    const backoff = Math.min(
      this.#initialBackoff * this.#multiplier ** (this.#failures - 1),
      this.#maxBackoff,
    );
    const pause = Math.max(0, retryInMillis ?? backoff * (1 + this.#jitter * (2 * this.#random() - 1)));
    const until = this.#now() + pause;
    if (until <= this.#pauseUntil) return;
    diag.debug(`Retrying the OTLP export to ${this.#options.endpoint} in ${formatMillis(pause)}: ${error.reason}`);
    this.#endPause();
    this.#pauseUntil = until;
    this.#pausedByCollector = retryInMillis !== undefined;
    this.#cancelPause = this.#setTimer(() => {
      // Over, even if the clock says a fraction of a millisecond is left: timers can fire early.
      this.#endPause();
      this.#pump();
    }, pause);
  }

  #endPause(): void {
    this.#cancelPause?.();
    this.#cancelPause = undefined;
    this.#pauseUntil = 0;
    this.#pausedByCollector = false;
  }

  #loseAtClose(batch: Batch, error: ExportError | undefined): void {
    this.#release(batch);
    const last = batch.lastError ?? this.#lastError;
    // Why it was not delivered: what the collector last said, rather than that we stopped asking.
    const reason = last ?? error ?? exportError(`the exporter to ${this.#options.endpoint} was shut down`, 'shutdown');
    // error.type is the cause of the last attempt; one never sent was stopped by the shutdown.
    this.#options.onLost(batch, batch.attempts > 0 ? reason : exportError(reason.reason, 'shutdown'), true);
  }

  #release(batch: Batch): void {
    this.#heldBytes -= batch.body.byteLength;
    this.#heldItems -= batch.count;
    this.#budget.heldBytes -= batch.body.byteLength;
  }

  /** Whether every request up to `seq` has been delivered or given up. */
  #doneUpTo(seq: number): boolean {
    if (this.#waiting.length > 0 && this.#waiting[0]!.seq <= seq) return false;
    for (const batch of this.#inFlight.keys()) if (batch.seq <= seq) return false;
    return true;
  }

  #settleFlushes(): void {
    for (const waiter of this.#flushWaiters) {
      if (waiter.seq === Infinity ? this.#inFlight.size === 0 : this.#doneUpTo(waiter.seq)) {
        this.#flushWaiters.delete(waiter);
        waiter.resolve();
      }
    }
  }
}

/** The outage buffer of one exporter; see the module's comment. */
export interface DeliveryQueue {
  /** Items held: waiting or in flight. */
  readonly heldItems: number;
  readonly heldBytes: number;
  /** Takes a request for delivery; false (and `onLost`) when it cannot be held. */
  add(body: Uint8Array, count: number): boolean;
  /**
   * Sends what is held now and waits, at most `timeoutMillis` (and not past the budget's
   * shutdown deadline), until all of it is delivered or given up; true when it was. What is
   * left stays held.
   */
  flush(timeoutMillis: number): Promise<boolean>;
  /** Refuses new requests, flushes as `flush()` does, then gives up on the rest. */
  close(timeoutMillis: number): Promise<void>;
}

/**
 * A bound of `maxBytes` on the telemetry that the OTLP exporters given it hold together while
 * a collector does not take it (encoded requests, bytes as sent). Past it, a new request
 * pushes out the oldest one waiting, of any signal, and the loss is counted and reported; a
 * single request larger than the bound is still held when nothing else is. Give one budget to
 * the exporters of every signal (`budget` of their options), so that an outage costs at most
 * `maxBytes` in all; an exporter given none has 32 MiB of its own. `registerOTel()` makes one
 * for its exporters, of `ROLLDICE_OTLP_BUFFER_BYTES` (32 MiB unless set).
 *
 * @example
 * ```ts
 * import { createDeliveryBudget, createOtlpLogExporter, createOtlpSpanExporter } from '@rolldice/otel';
 *
 * const budget = createDeliveryBudget(8 * 1024 * 1024); // traces and logs together
 * const otlp = { protocol: 'http/protobuf', headers: {}, timeoutMillis: 10_000, compression: 'none' } as const;
 * const spans = createOtlpSpanExporter({ ...otlp, url: 'http://localhost:4318/v1/traces' }, { budget });
 * const logs = createOtlpLogExporter({ ...otlp, url: 'http://localhost:4318/v1/logs' }, { budget });
 * ```
 */
export function createDeliveryBudget(maxBytes: number): DeliveryBudget {
  return new Budget(maxBytes);
}

export function createDeliveryQueue(options: DeliveryQueueOptions): DeliveryQueue {
  return new Queue(options);
}
