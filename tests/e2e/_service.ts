/**
 * Starts a runtime's adapter as a real process and reads back what it printed. Every process
 * started here runs in a process group of its own and is remembered until it has exited, so
 * that `stopAllServices()` (in each e2e file's `afterEach`) ends whatever a failing test left.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import process from 'node:process';
import { adapterCommand, type RuntimeName } from '../_runtimes.ts';
import {
  anyValueToJs,
  attributesToObject,
  type FlatLogRecord,
  type FlatMetric,
  type FlatSpan,
  flattenLogRecords,
  flattenMetrics,
  flattenSpans,
  normalizeOtlpJson,
  type OtlpExportRequest,
} from '../_otlp-decode.ts';

export { adapterCommand };

export interface RunningService {
  runtime: RuntimeName;
  url: string;
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal's name) once the process has ended. */
  exited: Promise<number | string>;
  /** Sends `name` to the service's process group, wrappers (`npm start`) included. */
  signal(name: NodeJS.Signals): void;
  /** Sends `name` to the started process alone: the wrapper, when there is one, as a supervisor does. */
  signalProcess(name: NodeJS.Signals): void;
}

export interface StartOptions {
  env?: Record<string, string>;
  /** Run this command line instead of the adapter, e.g. the `npm start` wrapper. */
  command?: { command: string; args: string[] };
  timeoutMillis?: number;
}

/** Process groups started and not yet seen to exit. */
const live = new Map<ChildProcess, Promise<unknown>>();

function signalGroup(child: ChildProcess, name: NodeJS.Signals): void {
  try {
    process.kill(-child.pid!, name);
  } catch {
    // already gone
  }
}

// Even when the test process ends abruptly, no service outlives it.
process.on('exit', () => {
  for (const child of live.keys()) signalGroup(child, 'SIGKILL');
});

/**
 * SIGTERM to every service still running, SIGKILL to any that has not exited `graceMillis`
 * later; resolves once all have exited.
 */
export async function stopAllServices(graceMillis = 5_000): Promise<void> {
  if (live.size === 0) return;
  const children = [...live];
  for (const [child] of children) signalGroup(child, 'SIGTERM');
  let timer: ReturnType<typeof setTimeout> | undefined;
  const grace = new Promise((resolve) => (timer = setTimeout(resolve, graceMillis)));
  await Promise.race([Promise.all(children.map(([, exited]) => exited)), grace]);
  clearTimeout(timer);
  for (const [child] of children) signalGroup(child, 'SIGKILL');
  await Promise.all(children.map(([, exited]) => exited));
}

interface Spawned {
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | string>;
}

function spawnService(runtime: RuntimeName, options: StartOptions): Spawned {
  const { command, args } = options.command ?? adapterCommand(runtime);
  // The outer environment's OTEL_* must not leak into what a test asserts.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('OTEL_')));
  const child = spawn(command, args, {
    env: { ...inherited, PORT: '0', HOST: '127.0.0.1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so a signal reaches the service behind any wrapper.
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | string>((resolve) => {
    // A spawn failure (no such binary) ends here too, with 'close' after 'error'.
    child.on('error', (error) => (stderr += `cannot start ${command}: ${error.message}\n`));
    // 'close', not 'exit': by then everything the process printed has been read.
    child.on('close', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  live.set(child, exited);
  exited.then(() => live.delete(child));
  return { child, stdout: () => stdout, stderr: () => stderr, exited };
}

/** Spawns the adapter on a free port (PORT=0) and resolves once it says it is listening. */
export function startService(runtime: RuntimeName, options: StartOptions = {}): Promise<RunningService> {
  const { child, stdout, stderr, exited } = spawnService(runtime, options);
  const timeoutMillis = options.timeoutMillis ?? 15_000;
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      signalGroup(child, 'SIGKILL');
      reject(new Error(`${runtime} did not start within ${timeoutMillis} ms; stderr:\n${stderr()}`));
    }, timeoutMillis);
    const stop = () => {
      clearTimeout(timer);
      child.stderr!.off('data', onData);
    };
    const onData = () => {
      const match = /listening on http:\/\/[^:]+:(\d+)/.exec(stderr());
      if (!match) return;
      stop();
      resolve({
        runtime,
        url: `http://127.0.0.1:${match[1]}`,
        child,
        stdout,
        stderr,
        exited,
        signal: (name) => signalGroup(child, name),
        signalProcess: (name) => child.kill(name),
      });
    };
    child.stderr!.on('data', onData);
    exited.then((code) => {
      stop();
      reject(new Error(`${runtime} exited with ${code} before listening; stderr:\n${stderr()}`));
    });
  });
}

export interface Exited {
  code: number | string;
  stdout: string;
  stderr: string;
}

/**
 * Runs the adapter until it exits by itself, for settings it must refuse at start; a
 * service still running after `timeoutMillis` is killed and the promise rejects.
 */
export async function runUntilExit(runtime: RuntimeName, options: StartOptions = {}): Promise<Exited> {
  const { child, stdout, stderr, exited } = spawnService(runtime, options);
  const timeoutMillis = options.timeoutMillis ?? 15_000;
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => (timer = setTimeout(resolve, timeoutMillis, 'timeout')));
  const code = await Promise.race([exited, timedOut]);
  clearTimeout(timer);
  if (code === 'timeout') {
    signalGroup(child, 'SIGKILL');
    await exited;
    throw new Error(`${runtime} was still running after ${timeoutMillis} ms; stderr:\n${stderr()}`);
  }
  return { code, stdout: stdout(), stderr: stderr() };
}

/** Splits the console exporters' output (indented JSON documents, one after another). */
export function parseDocuments(stdout: string): unknown[] {
  const documents: unknown[] = [];
  let current: string[] = [];
  for (const line of stdout.split('\n')) {
    if (current.length === 0 && line !== '{') continue; // not telemetry
    current.push(line);
    if (line === '}') {
      documents.push(JSON.parse(current.join('\n')));
      current = [];
    }
  }
  return documents;
}

/** Converts an OTLP/JSON AnyValue to a plain value; the same as `anyValueToJs` of `_otlp-decode.ts`. */
export const plain = anyValueToJs;

/** An OTLP/JSON attribute list as `{ key: plain value }`; the same as `attributesToObject`. */
export const attributesOf = attributesToObject;

export interface Printed {
  spans: FlatSpan[];
  logs: FlatLogRecord[];
  metrics: FlatMetric[];
}

/**
 * The telemetry the console exporters printed, in the canonical OTLP/JSON form of
 * `_otlp-decode.ts` (which also checks it is well-formed) and flattened as the OTLP receiver
 * flattens what it receives: each item gains `resource`, `scope` and plain attributes.
 */
export function collect(stdout: string): Printed {
  const documents: OtlpExportRequest[] = parseDocuments(stdout).map((doc) => normalizeOtlpJson(doc));
  return { spans: flattenSpans(documents), logs: flattenLogRecords(documents), metrics: flattenMetrics(documents) };
}
