import { describeError } from '../../mod.ts';

export interface GracefulShutdownOptions {
  /** Stops accepting connections and resolves once in-flight requests have been answered. */
  stopServer(): Promise<void>;
  /** Flushes and stops telemetry. */
  shutdownTelemetry(): Promise<void>;
  /** Ends the process. */
  exit(code: number): void;
  log(message: string): void;
  /** Exit with 1 if stopping takes longer than this. @default 30000 */
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

/**
 * The signal handler each adapter installs for SIGINT and SIGTERM: the first signal stops
 * the server, lets in-flight requests finish, flushes every signal's telemetry and exits 0;
 * a second signal exits at once.
 *
 * Wrappers such as `npm start` and `deno task` pass on the SIGINT of Ctrl-C that the whole
 * process group already received, so the service gets it twice within milliseconds; that
 * repeat is ignored rather than taken for an impatient second press.
 */
export function createGracefulShutdown(options: GracefulShutdownOptions): (signal: string) => void {
  const { stopServer, shutdownTelemetry, exit, log, deadlineMillis = 30_000 } = options;
  const { repeatWindowMillis = 500, now = () => performance.now() } = options;
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
      try {
        await shutdownTelemetry();
      } catch (error) {
        log(`rolldice: cannot flush telemetry: ${describeError(error)}`);
        code = 1;
      }
      clearTimeout(deadline);
      exit(code);
    })();
  };
}
