/**
 * The load generators, each run as its own process on core 1: wrk (Debian package `wrk`) for
 * the saturation phase (throughput, CPU per request), and fixed-rate.ts for the
 * latency phase at a fixed request rate (why not wrk there: see that file).
 *
 * Why wrk rather than autocannon: the load generator shares core 1 with the OTLP sink, and on
 * two cores it must not become the bottleneck. wrk is C on epoll and drives a loopback server
 * with a fraction of the CPU a Node-based generator needs, so Bun's and Node's bare servers
 * saturate core 0 before the driver saturates core 1; its Lua `done()` hook hands back exact
 * percentiles (wrk-report.lua) instead of a report to scrape. It is one `apt-get` away on
 * Debian and adds nothing to package.json. A fixed rate of a few thousand req/s, by contrast,
 * is well within a Node client's reach, which is what lets the latency phase be written here.
 */
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import type { FixedRateResult } from './fixed-rate.ts';
import type { Pinning } from '../lib/proc.ts';
import { runtimeBinary } from '../lib/processes.ts';

export interface WrkResult {
  requests: number;
  durationUs: number;
  bytes: number;
  errors: { connect: number; read: number; write: number; status: number; timeout: number };
  latencyUs: { p50: number; p90: number; p99: number; max: number; mean: number };
}

const WRK_PATHS = ['/usr/bin/wrk', '/usr/local/bin/wrk'];
const SCRIPT = join(import.meta.dirname, 'wrk-report.lua');

function findWrk(): string | undefined {
  return WRK_PATHS.find((p) => existsSync(p));
}

/** Finds wrk, installing it with apt-get when running as root; throws with a hint otherwise. */
export function ensureWrk(log: (message: string) => void): string {
  const found = findWrk();
  if (found) return found;
  if (process.getuid?.() !== 0 || !existsSync('/usr/bin/apt-get')) {
    throw new Error('wrk is not installed; install it first: sudo apt-get install -y wrk');
  }
  log('bench: wrk not found; installing it with apt-get (Debian package "wrk")');
  const install = () =>
    execFileSync('apt-get', ['install', '-y', '-qq', 'wrk'], { stdio: ['ignore', 'ignore', 'inherit'] });
  try {
    install();
  } catch {
    // A fresh machine has no package lists yet.
    execFileSync('apt-get', ['update', '-qq'], { stdio: ['ignore', 'ignore', 'inherit'] });
    install();
  }
  const installed = findWrk();
  if (!installed) throw new Error('apt-get install wrk did not provide /usr/bin/wrk');
  return installed;
}

/** `4.1.0` from "wrk debian/4.1.0-3+b2 [epoll] …" (wrk --version exits 1, hence spawnSync). */
export function wrkVersion(wrk: string): string {
  const out = spawnSync(wrk, ['--version'], { encoding: 'utf8' });
  return /wrk (?:\S+\/)?(\d+\.\d+\.\d+)/.exec(`${out.stdout}${out.stderr}`)?.[1] ?? '?';
}

export interface LoadOptions {
  wrk: string;
  url: string;
  connections: number;
  seconds: number;
  pinning: Pinning;
}

/**
 * One wrk run with keep-alive connections (wrk's default) and a single thread: on the one core
 * it gets, more threads would only contend.
 */
export function runLoad(options: LoadOptions): Promise<WrkResult> {
  const args = [
    '-t1',
    `-c${options.connections}`,
    `-d${options.seconds}s`,
    '--timeout',
    '2s',
    '-s',
    SCRIPT,
    options.url,
  ];
  const { command, args: wrapped } = options.pinning.wrap(1, options.wrk, args);
  return new Promise((resolve, reject) => {
    const child = spawn(command, wrapped, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    // wrk stops by itself after -d; this only guards against a hang.
    const guard = setTimeout(() => child.kill('SIGKILL'), (options.seconds + 15) * 1000);
    child.on('error', (error) => {
      clearTimeout(guard);
      reject(error);
    });
    child.on('exit', (code) => {
      clearTimeout(guard);
      const line = out.split('\n').find((l) => l.startsWith('##wrk '));
      if (code !== 0 || !line) return reject(new Error(`wrk exited with ${code}:\n${out}`));
      resolve(JSON.parse(line.slice('##wrk '.length)) as WrkResult);
    });
  });
}

export interface FixedRateOptions {
  url: string;
  rate: number;
  seconds: number;
  sockets: number;
  pinning: Pinning;
}

const FIXED_RATE = join(import.meta.dirname, 'fixed-rate.ts');

/**
 * One fixed-rate run of fixed-rate.ts (the open-loop generator), with the same Node as
 * the rest of the benchmark, on core 1 like wrk.
 */
export function runFixedRate(options: FixedRateOptions): Promise<FixedRateResult> {
  const args = [FIXED_RATE, options.url, String(options.rate), String(options.seconds), String(options.sockets)];
  const { command, args: wrapped } = options.pinning.wrap(1, runtimeBinary('node'), args);
  return new Promise((resolve, reject) => {
    const child = spawn(command, wrapped, { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
    // It stops by itself once the last request is answered or timed out (5 s); this only
    // guards against a hang.
    const guard = setTimeout(() => child.kill('SIGKILL'), (options.seconds + 20) * 1000);
    child.on('error', (error) => {
      clearTimeout(guard);
      reject(error);
    });
    child.on('exit', (code) => {
      clearTimeout(guard);
      const line = out.split('\n').find((l) => l.startsWith('##rate '));
      if (code !== 0 || !line) return reject(new Error(`the fixed-rate generator exited with ${code}:\n${out}`));
      resolve(JSON.parse(line.slice('##rate '.length)) as FixedRateResult);
    });
  });
}
