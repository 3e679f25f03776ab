/** Starting and stopping what the benchmark measures: the service on each runtime, and the sink. */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { join } from 'node:path';
import process from 'node:process';
import { stripVTControlCharacters } from 'node:util';
import type { Pinning } from './proc.ts';
import type { SinkCounts } from './sink.ts';

export type RuntimeName = 'node' | 'deno' | 'bun';
export const RUNTIMES: readonly RuntimeName[] = ['node', 'deno', 'bun'];

export const bin = (name: string): string => join(process.cwd(), 'node_modules', '.bin', name);

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

/** The command line users run, minus the wrappers (npm, deno task, bun run), as tests/e2e does. */
export function serviceCommand(runtime: RuntimeName): { command: string; args: string[] } {
  if (runtime === 'node') return { command: bin('node'), args: [...nodeStartFlags(), 'dist/node.js'] };
  if (runtime === 'bun') return { command: bin('bun'), args: ['runtimes/bun.ts'] };
  return { command: bin('deno'), args: denoStartArgs() };
}

/** The flags `npm start` gives node (`node FLAGS runtimes/start.js`), read from package.json. */
function nodeStartFlags(): string[] {
  const words: string[] = JSON.parse(readFileSync('package.json', 'utf8')).scripts.start.trim().split(/\s+/);
  if (words[0] !== 'node') throw new Error(`package.json's start script does not say "node …": ${words.join(' ')}`);
  return words.slice(1, -1);
}

/**
 * The arguments of `deno task start` from `run` on (`deno run --allow-… runtimes/deno.ts`),
 * read from deno.json so that the permission flags cannot drift. The task is a string or
 * `{ command }`, and its binary may be spelled `deno` or `$(which deno)`.
 */
function denoStartArgs(): string[] {
  const task: string | { command: string } = JSON.parse(readFileSync('deno.json', 'utf8')).tasks.start;
  const words = (typeof task === 'string' ? task : task.command).trim().split(/\s+/);
  const run = words.indexOf('run');
  if (run < 0) throw new Error(`deno.json's start task does not say "deno run …": ${words.join(' ')}`);
  return words.slice(run);
}

/** The outer environment without OTEL_*, which must not leak into a mode. */
function cleanEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => !e[0].startsWith('OTEL_') && e[1] !== undefined),
  );
}

export interface RunningServer {
  pid: number;
  url: string;
  /** Milliseconds from spawn to the "listening" line. */
  listenMillis: number;
  stderr(): string;
  /**
   * SIGTERM, then waits for the exit (SIGKILL after `graceMillis`); resolves with how it ended.
   * With `hurryAfterMillis`, a second SIGTERM follows, on which the service exits at once.
   */
  stop(
    graceMillis?: number,
    hurryAfterMillis?: number,
  ): Promise<{ code: number | string; millis: number; killed: boolean }>;
}

/** Spawns the service on a free port of 127.0.0.1 on core 0; resolves once it listens. */
export function startServer(
  runtime: RuntimeName,
  env: Record<string, string>,
  pinning: Pinning,
): Promise<RunningServer> {
  const base = serviceCommand(runtime);
  const { command, args } = pinning.wrap(0, base.command, base.args);
  const started = performance.now();
  const child = track(spawn(command, args, {
    env: { ...cleanEnv(), PORT: '0', HOST: '127.0.0.1', ...env },
    // stdout is only console telemetry, which no mode here asks for: drop it without a pipe
    // whose back-pressure could stall the server.
    stdio: ['ignore', 'ignore', 'pipe'],
  }));
  let stderr = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    // Deno colours its errors even into a pipe; the report wants plain text.
    stderr = (stderr + stripVTControlCharacters(chunk)).slice(-8_000);
  });
  const exited = new Promise<number | string>((resolve) =>
    child.on('exit', (code, signal) => resolve(code ?? signal ?? '?'))
  );

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${runtime} did not listen within 20 s; stderr:\n${stderr}`));
    }, 20_000);
    const onData = () => {
      const match = /listening on http:\/\/127\.0\.0\.1:(\d+)/.exec(stderr);
      if (!match) return;
      clearTimeout(timer);
      child.stderr!.off('data', onData);
      resolve({
        pid: child.pid!,
        url: `http://127.0.0.1:${match[1]}`,
        listenMillis: performance.now() - started,
        stderr: () => stderr,
        stop: async (graceMillis = 20_000, hurryAfterMillis?: number) => {
          const t0 = performance.now();
          child.kill('SIGTERM');
          let killed = false;
          const timer = setTimeout(() => {
            killed = true;
            child.kill('SIGKILL');
          }, graceMillis);
          const hurry = hurryAfterMillis === undefined
            ? undefined
            : setTimeout(() => child.kill('SIGTERM'), hurryAfterMillis);
          const code = await exited;
          clearTimeout(timer);
          clearTimeout(hurry);
          return { code, millis: performance.now() - t0, killed };
        },
      });
    };
    child.stderr!.on('data', onData);
    child.on('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${runtime} exited with ${code} before listening; stderr:\n${stderr}`));
    });
  });
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
export async function coldStart(runtime: RuntimeName, env: Record<string, string>, pinning: Pinning): Promise<number> {
  const started = performance.now();
  const server = await startServer(runtime, env, pinning);
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
 * Runs a benchmark worker script (bench/*-worker.ts) under the runtime's binary on core 0, Deno
 * with the permissions of `deno task start`, and resolves with the JSON of its one output line
 * that starts with `##<tag> `.
 */
export function runBenchWorker<T>(
  runtime: RuntimeName,
  script: string,
  scriptArgs: string[],
  tag: string,
  pinning: Pinning,
  timeoutMillis = 180_000,
): Promise<T> {
  const service = serviceCommand(runtime);
  // serviceCommand ends with the adapter's entry point: keep Deno's flags, swap the script.
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
        return reject(new Error(`${runtime} ${script.split('/').pop()} exited with ${code}:\n${err}`));
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

/** Starts bench/sink.ts with the matrix's Node on core 1. */
export function startSink(pinning: Pinning): Promise<Sink> {
  const { command, args } = pinning.wrap(1, bin('node'), [join(import.meta.dirname, 'sink.ts')]);
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
