/**
 * Retries an export while the collector answers "retryable" (429, 502, 503, 504, or no
 * answer at all), with exponential backoff and jitter, honouring `Retry-After`, and never
 * past the export deadline: `timeoutMillis` bounds the whole export, every attempt and every
 * pause included. Written here because otlp-exporter-base does not export its retrying
 * transport, and that one stops after five attempts rather than at the deadline and turns
 * `Retry-After: 0` into a negative delay.
 */
import { diag } from '@opentelemetry/api';
import type { ExportResponse, IExporterTransport } from '@opentelemetry/otlp-exporter-base';
import { type ExportError, exportError, reasonOf } from './export-error.ts';

export interface RetryOptions {
  /** The pause before the first retry, before jitter. @default 1000 */
  initialBackoffMillis?: number;
  /** @default 5000 */
  maxBackoffMillis?: number;
  /** @default 1.5 */
  backoffMultiplier?: number;
  /** Each pause is the backoff times a random factor in [1 - jitter, 1 + jitter]. @default 0.2 */
  jitter?: number;
  /** In [0, 1), as `Math.random`. */
  random?: () => number;
  /** A monotonic clock in milliseconds, as `performance.now`. */
  now?: () => number;
}

function formatMillis(millis: number): string {
  return millis >= 1000 ? `${(millis / 1000).toFixed(millis % 1000 === 0 ? 0 : 1)} s` : `${Math.round(millis)} ms`;
}

class RetryingTransport implements IExporterTransport {
  #transport: IExporterTransport;
  #initialBackoff: number;
  #maxBackoff: number;
  #multiplier: number;
  #jitter: number;
  #random: () => number;
  #now: () => number;
  /** Cuts pauses short at shutdown. */
  #shutdown = new AbortController();

  constructor(transport: IExporterTransport, options: RetryOptions) {
    this.#transport = transport;
    this.#initialBackoff = options.initialBackoffMillis ?? 1000;
    this.#maxBackoff = options.maxBackoffMillis ?? 5000;
    this.#multiplier = options.backoffMultiplier ?? 1.5;
    this.#jitter = options.jitter ?? 0.2;
    this.#random = options.random ?? Math.random;
    this.#now = options.now ?? (() => performance.now());
  }

  async send(data: Uint8Array, timeoutMillis: number): Promise<ExportResponse> {
    const deadline = this.#now() + timeoutMillis;
    let backoff = this.#initialBackoff;
    // What the collector last said: an attempt that the deadline cut short says nothing new.
    let lastAnswer: string | undefined;
    for (let attempt = 1;; attempt++) {
      const response = await this.#transport.send(data, deadline - this.#now());
      // Each attempt is given what is left of the deadline, so an attempt that timed out ran
      // into the deadline, even when its timer fired a fraction of a millisecond early.
      if (
        response.status === 'failure' && lastAnswer !== undefined &&
        ((response.error as Partial<ExportError>).timedOut === true || this.#now() >= deadline)
      ) {
        // The deadline cut the last attempt short: what matters is why there were retries.
        return {
          status: 'failure',
          error: exportError(
            `${lastAnswer}; gave up after ${attempt} attempts, as the ${
              formatMillis(timeoutMillis)
            } export timeout ran out`,
            response.error,
          ),
        };
      }
      if (response.status !== 'retryable') return response;

      const latest = reasonOf(response.error ?? 'the collector asked to retry');
      if (this.#now() < deadline || lastAnswer === undefined) lastAnswer = latest;
      const reason = lastAnswer;
      const jittered = backoff * (1 + this.#jitter * (2 * this.#random() - 1));
      const pause = Math.max(0, response.retryInMillis ?? Math.min(jittered, this.#maxBackoff));
      backoff = Math.min(backoff * this.#multiplier, this.#maxBackoff);
      const attempts = attempt === 1 ? '1 attempt' : `${attempt} attempts`;
      if (pause >= deadline - this.#now()) {
        const why = response.retryInMillis === undefined
          ? `gave up after ${attempts}, as the ${formatMillis(timeoutMillis)} export timeout ran out`
          : `it asked to retry after ${formatMillis(pause)}, past the ${formatMillis(timeoutMillis)} export timeout`;
        return { status: 'failure', error: exportError(`${reason}; ${why}`, response.error) };
      }
      diag.debug(`Retrying the OTLP export in ${formatMillis(pause)}: ${reason}`);
      if (!(await this.#pause(pause))) {
        return {
          status: 'failure',
          error: exportError(`${reason}; the exporter shut down before attempt ${attempt + 1}`, response.error),
        };
      }
      if (deadline - this.#now() <= 0) {
        return {
          status: 'failure',
          error: exportError(
            `${reason}; gave up after ${attempts}, as the ${formatMillis(timeoutMillis)} export timeout ran out`,
            response.error,
          ),
        };
      }
    }
  }

  /** Resolves true after `millis`, or false at once when the transport shuts down. */
  #pause(millis: number): Promise<boolean> {
    const signal = this.#shutdown.signal;
    if (signal.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = () => {
        clearTimeout(timer);
        resolve(false);
      };
      const timer = setTimeout(() => {
        signal.removeEventListener('abort', onAbort);
        resolve(true);
      }, millis);
      signal.addEventListener('abort', onAbort, { once: true });
    });
  }

  shutdown(): void {
    this.#shutdown.abort();
    this.#transport.shutdown();
  }
}

/** Wraps `transport` so that retryable answers are retried until the export deadline. */
export function createRetryingTransport(transport: IExporterTransport, options: RetryOptions = {}): IExporterTransport {
  return new RetryingTransport(transport, options);
}
