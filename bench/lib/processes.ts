/**
 * Starting and stopping what the benchmarks measure: the service on each runtime, worker
 * scripts, and the sink. The runtime list, the commands users type and spawn-and-wait-for-
 * listening come from the tests (tests/_runtimes.ts, tests/e2e/_service.ts), so the benchmark
 * starts the service exactly as the end-to-end tests do, plus pinning to a core.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { RUNTIME_COMMANDS, type RuntimeName, RUNTIMES } from '../../tests/_runtimes.ts';
import { adapterCommand, type RunningService, startService } from '../../tests/e2e/_service.ts';
import type { Pinning } from './proc.ts';
import type { SinkCounts } from './sink.ts';

export { type RuntimeName, RUNTIMES };

/** Each runtime's own hello server (bench/service/hello.js): the floor of a cold start. */
export function helloCommand(runtime: RuntimeName): StartCommand {
  const script = join(import.meta.dirname, '..', 'service', 'hello.js');
  const args = runtime === 'deno' ? ['run', '--allow-net', '--allow-env=PORT,HOST', script] : [script];
  return { line: `${runtime} hello`, runtime, command: runtimeBinary(runtime), args };
}

/** A command line the README gives to start the service, as the benchmark runs it. */
export interface StartCommand {
  /** As the README writes it, e.g. `npm start`. */
  line: string;
  runtime: RuntimeName;
  command: string;
  args: string[];
}

/**
 * The documented start commands of these runtimes, wrappers included: `npm start` and
 * `node dist/node.js` on Node, `deno task start`, `bun run start`. `npm start` runs whatever
 * `node` comes first on PATH; the benchmark puts the matrix's there (see {@link startServer}).
 */
export function startCommands(runtimes: readonly RuntimeName[]): StartCommand[] {
  const all: StartCommand[] = [
    { line: 'npm start', runtime: 'node', command: 'npm', args: ['start', '--silent'] },
    { line: 'node dist/node.js', runtime: 'node', command: runtimeBinary('node'), args: ['dist/node.js'] },
    { line: 'deno task start', runtime: 'deno', command: runtimeBinary('deno'), args: ['task', 'start'] },
    { line: 'bun run start', runtime: 'bun', command: runtimeBinary('bun'), args: ['run', 'start'] },
  ];
  return all.filter((c) => runtimes.includes(c.runtime));
}

/**
 * The process that serves, behind any wrappers (npm, `deno task`, `bun run`, a shell): the
 * last descendant of each generation. The wrappers only wait while it serves.
 */
function servingPid(pid: number): number {
  for (;;) {
    let children: string[];
    try {
      children = readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean);
    } catch {
      return pid;
    }
    if (children.length === 0) return pid;
    pid = Number(children[children.length - 1]);
  }
}

/** The binary of a runtime of the matrix; Node is the one running the benchmark (`npm run bench`). */
export const runtimeBinary = (runtime: RuntimeName): string => RUNTIME_COMMANDS[runtime].command;

/** Every process started here, so that an interrupted benchmark leaves none behind. */
const live = new Set<ChildProcess>();
export function killAll(): void {
  for (const child of live) child.kill('SIGKILL');
}

function track(child: ChildProcess): ChildProcess {
  live.add(child);
  child.on('exit', () => live.delete(child));
  return child;
}

export interface RunningServer {
  /** The serving process, behind the start command's wrappers. */
  pid: number;
  url: string;
  /** The end of what it printed on stderr. */
  stderr(): string;
  /** SIGTERM, then waits for the exit (SIGKILL after `graceMillis`); resolves with how it ended. */
  stop(graceMillis?: number): Promise<{ code: number | string; millis: number; killed: boolean }>;
}

/**
 * Spawns the service on a free port of 127.0.0.1, on core 0, with `start` (default: the
 * runtime's adapter without wrappers); resolves once it listens.
 */
export async function startServer(
  runtime: RuntimeName,
  env: Record<string, string>,
  pinning: Pinning,
  start?: StartCommand,
): Promise<RunningServer> {
  const base = start ?? adapterCommand(runtime);
  const service: RunningService = await startService(runtime, {
    // Deno colours its errors even into a pipe; the report wants plain text. The matrix's
    // Node first on PATH, for `npm start`.
    env: { NO_COLOR: '1', PATH: `${dirname(runtimeBinary('node'))}:${process.env.PATH ?? ''}`, ...env },
    command: pinning.wrap(0, base.command, base.args),
    timeoutMillis: 20_000,
  });
  track(service.child);
  return {
    pid: servingPid(service.child.pid!),
    url: service.url,
    stderr: () => service.stderr().slice(-8_000),
    stop: async (graceMillis = 20_000) => {
      const t0 = performance.now();
      service.signal('SIGTERM');
      let killed = false;
      const timer = setTimeout(() => {
        killed = true;
        service.signal('SIGKILL');
      }, graceMillis);
      const code = await service.exited;
      clearTimeout(timer);
      return { code, millis: performance.now() - t0, killed };
    },
  };
}

/** One GET without a pooled agent (a fresh connection, as a first client would open). */
export function httpGet(url: string, timeoutMillis = 5_000): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { agent: false, timeout: timeoutMillis }, (res) => {
      let body = '';
      res.setEncoding('utf8').on('data', (chunk: string) => (body += chunk));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on('timeout', () => req.destroy(new Error(`GET ${url} timed out`)));
    req.on('error', reject);
    req.end();
  });
}

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis));

/**
 * Cold start: from spawn to the first 200 on /rolldice. The "listening" line only says where;
 * the clock stops at the answer, which includes the first request's lazy work.
 */
export async function coldStart(
  runtime: RuntimeName,
  env: Record<string, string>,
  pinning: Pinning,
  start?: StartCommand,
): Promise<number> {
  const started = performance.now();
  const server = await startServer(runtime, env, pinning, start);
  try {
    for (let attempt = 0; attempt < 100; attempt++) {
      const answer = await httpGet(`${server.url}/rolldice`).catch(() => undefined);
      if (answer?.status === 200) return performance.now() - started;
      await sleep(10);
    }
    throw new Error(`${runtime} never answered 200 on /rolldice; stderr:\n${server.stderr()}`);
  } finally {
    await server.stop();
  }
}

/**
 * Runs a benchmark worker script (bench/<benchmark>/worker.ts) under the runtime's binary on
 * core 0, Deno with the permissions of `deno task start`, and resolves with the JSON of its
 * one output line that starts with `##<tag> `.
 */
export function runBenchWorker<T>(
  runtime: RuntimeName,
  script: string,
  scriptArgs: string[],
  tag: string,
  pinning: Pinning,
  timeoutMillis = 180_000,
): Promise<T> {
  const service = adapterCommand(runtime);
  // The adapter's command ends with its entry point: keep Deno's permission flags, swap the script.
  const flags = runtime === 'deno' ? service.args.slice(0, -1) : [];
  const { command, args } = pinning.wrap(0, service.command, [...flags, script, ...scriptArgs]);
  const prefix = `##${tag} `;
  return new Promise((resolve, reject) => {
    const child = track(spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'] }));
    let out = '';
    let err = '';
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (err = (err + chunk).slice(-4_000)));
    const guard = setTimeout(() => child.kill('SIGKILL'), timeoutMillis);
    child.on('exit', (code) => {
      clearTimeout(guard);
      const line = out.split('\n').find((l) => l.startsWith(prefix));
      if (code !== 0 || !line) {
        return reject(new Error(`${runtime} ${script} exited with ${code}:\n${err}`));
      }
      resolve(JSON.parse(line.slice(prefix.length)) as T);
    });
  });
}

export interface Sink {
  url: string;
  counts(): Promise<SinkCounts>;
  stop(): void;
}

/** Starts bench/lib/sink.ts with the matrix's Node on core 1. */
export function startSink(pinning: Pinning): Promise<Sink> {
  const { command, args } = pinning.wrap(1, runtimeBinary('node'), [join(import.meta.dirname, 'sink.ts')]);
  const child = track(spawn(command, args, { stdio: ['pipe', 'pipe', 'inherit'] }));
  return new Promise((resolve, reject) => {
    let out = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error('the sink did not start within 10 s'));
    }, 10_000);
    child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      const match = /sink: listening on (http:\S+)/.exec(out);
      if (!match) return;
      clearTimeout(timer);
      const url = match[1]!;
      resolve({
        url,
        counts: async () => JSON.parse((await httpGet(`${url}/counts`)).body) as SinkCounts,
        stop: () => child.stdin!.end(),
      });
    });
    child.on('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the sink exited with ${code}`));
    });
  });
}
