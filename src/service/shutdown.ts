import { describeError } from '../../mod.ts';

export interface GracefulShutdownOptions {
  /**
   * Stops accepting connections, closes those with nothing in flight (idle and half-sent
   * ones), and resolves once in-flight requests have been answered.
   */
  stopServer(): Promise<void>;
  /** Flushes and stops telemetry, within its own time (`ROLLDICE_SHUTDOWN_FLUSH_TIMEOUT`). */
  shutdownTelemetry(): Promise<void>;
  /** The time `shutdownTelemetry()` takes at most, to set the deadline after it. @default 5000 */
  flushTimeoutMillis?: number;
  /** Ends the process. */
  exit(code: number): void;
  log(message: string): void;
  /**
   * Exit with 1 if stopping takes longer than this: a request that never ends, a flush that
   * hangs. @default 30 s, or the flush time plus 10 s when that is longer
   */
  deadlineMillis?: number;
  /**
   * A repeat of the signal sooner than this is the same one delivered twice, not a second
   * press. @default 500
   */
  repeatWindowMillis?: number;
  /** @default performance.now */
  now?: () => number;
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGINT: 2, SIGTERM: 15 };
/** The longest delay a timer takes. */
const MAX_TIMER_MILLIS = 2_147_483_647;

/**
 * The signal handler each adapter installs for SIGINT and SIGTERM. The first signal stops the
 * server (no new connections; idle and half-sent ones closed), lets in-flight requests finish,
 * flushes every signal's telemetry for at most its flush time, and ends with one line:
 * `rolldice: stopped after 0.05 s`, followed, when telemetry could not be delivered, by what
 * was lost per signal. Exit code 0 when everything was delivered; 1 when telemetry was lost at
 * shutdown, the server could not stop, or the deadline passed; 128 + the signal's number on a
 * second signal, which exits at once.
 *
 * Wrappers such as `npm start` and `deno task` pass on the SIGINT of Ctrl-C that the whole
 * process group already received, so the service gets it twice within milliseconds; that
 * repeat is ignored rather than taken for an impatient second press.
 */
export function createGracefulShutdown(options: GracefulShutdownOptions): (signal: string) => void {
  const { stopServer, shutdownTelemetry, exit, log, flushTimeoutMillis = 5_000 } = options;
  const { repeatWindowMillis = 500, now = () => performance.now() } = options;
  const deadlineMillis = options.deadlineMillis ??
    Math.min(Math.max(30_000, flushTimeoutMillis + 10_000), MAX_TIMER_MILLIS);
  let stopping = false;
  let firstSignalAt = 0;
  return (signal) => {
    if (stopping && now() - firstSignalAt < repeatWindowMillis) return;
    if (stopping) {
      log(`rolldice: ${signal} again, exiting now`);
      exit(128 + (SIGNAL_NUMBERS[signal] ?? 1));
      return;
    }
    stopping = true;
    firstSignalAt = now();
    log(`rolldice: ${signal} received, finishing requests and flushing telemetry`);
    const deadline = setTimeout(() => {
      log(`rolldice: shutdown took longer than ${deadlineMillis} ms, exiting`);
      exit(1);
    }, deadlineMillis);
    (async () => {
      let code = 0;
      try {
        await stopServer();
      } catch (error) {
        log(`rolldice: cannot stop the server: ${describeError(error)}`);
        code = 1;
      }
      let telemetry = '';
      try {
        await shutdownTelemetry();
      } catch (error) {
        // The library's loss error says what was lost per signal; anything else is a failure.
        const lost = (error as { lostAtShutdown?: unknown } | undefined)?.lostAtShutdown !== undefined;
        telemetry = lost ? `; ${describeError(error)}` : `; cannot flush telemetry: ${describeError(error)}`;
        code = 1;
      }
      clearTimeout(deadline);
      log(`rolldice: stopped after ${((now() - firstSignalAt) / 1000).toFixed(2)} s${telemetry}`);
      exit(code);
    })();
  };
}
