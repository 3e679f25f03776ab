/**
 * `npm run bench` / `deno task bench`: what each request's traces, metrics and logs cost on
 * Node, Deno and Bun, next to the same server without telemetry. Three benchmarks, one
 * folder each; bench/README.md says how they measure and what they found.
 *
 *   npm run bench                 the service (service/bench.ts): bare vs instrumented, over HTTP
 *   npm run bench -- --handler    each signal's cost without a server (handler/bench.ts)
 *   npm run bench -- --export     the export path alone (export/bench.ts)
 *
 * Options:
 *   --runtime=node,deno,bun
 *   --rounds=3                    runs per mode or configuration, interleaved
 *   --out=DIR                     where results go (default: bench/results)
 *   --quick                       a smoke run, seconds long, whose figures mean nothing:
 *                                 one round, short phases; results go to a temporary
 *                                 directory unless --out says otherwise
 * The service benchmark also takes:
 *   --modes=bare,otlp,gzip,down   bare always runs, and down whenever otlp does (the RSS
 *                                 budget compares them)
 *   --warmup=2                    seconds of unmeasured saturation first
 *   --rate=2000                   req/s of the fixed-rate phase, the same in every mode
 *   --rate-duration=D             its seconds (default: --duration)
 *   --sockets=16                  its keep-alive connections
 *   --duration=5                  seconds of the saturation phase
 *   --connections=32              wrk's keep-alive connections in it
 *   --cold=5                      cold starts per mode (bare and instrumented)
 *   --path=/rolldice/Alice
 *
 * Exits non-zero only when something could not be measured; slow figures are reported,
 * never failed.
 */
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import process from 'node:process';
import { runExportBench } from './export/bench.ts';
import { runHandlerBench } from './handler/bench.ts';
import { detectPinning, pinSelf } from './lib/proc.ts';
import { killAll, type RuntimeName, RUNTIMES } from './lib/processes.ts';
import { runServiceBench, type ServiceBenchOptions } from './service/bench.ts';
import { MODES } from './service/results.ts';

const RESULTS_DIR = join(import.meta.dirname, 'results');

interface Options extends ServiceBenchOptions {
  export: boolean;
  handler: boolean;
  quick: boolean;
}

/** A bad flag: said in one line, without a stack. */
class UsageError extends Error {}

function option(name: string): string | undefined {
  const prefix = `--${name}=`;
  return process.argv.find((arg) => arg.startsWith(prefix))?.slice(prefix.length);
}

function listOption<T extends string>(name: string, allowed: readonly T[]): T[] {
  const value = option(name);
  if (value === undefined) return [...allowed];
  const picked = value.split(',').map((v) => v.trim()).filter(Boolean);
  const unknown = picked.filter((v) => !allowed.includes(v as T));
  if (unknown.length > 0) {
    throw new UsageError(`--${name}: unknown ${unknown.join(', ')} (choose from ${allowed.join(', ')})`);
  }
  return picked as T[];
}

function numberOption(name: string, fallback: number, min: number): number {
  const value = option(name);
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isFinite(n) || n < min) throw new UsageError(`--${name}=${value}: expected a number ≥ ${min}`);
  return n;
}

function parseOptions(): Options {
  const known =
    /^--(runtime|rounds|out|quick|modes|warmup|rate|rate-duration|sockets|duration|connections|cold|path|export|handler|help)(=|$)/;
  const unknown = process.argv.slice(2).find((arg) => !known.test(arg));
  if (unknown !== undefined) throw new UsageError(`unknown option ${unknown} (npm run bench -- --help lists them)`);
  const quick = process.argv.includes('--quick');
  const modes = listOption('modes', MODES);
  // Telemetry cost is measured against bare, so bare always runs; the RSS budget compares
  // down with otlp, so down runs whenever otlp does.
  if (!modes.includes('bare')) modes.unshift('bare');
  if (modes.includes('otlp') && !modes.includes('down')) modes.push('down');
  const duration = numberOption('duration', quick ? 1 : 5, 1);
  const out = option('out');
  return {
    runtimes: listOption('runtime', RUNTIMES) as RuntimeName[],
    modes: MODES.filter((m) => modes.includes(m)),
    rounds: Math.round(numberOption('rounds', quick ? 1 : 3, 1)),
    duration,
    warmup: numberOption('warmup', quick ? 0 : 2, 0),
    connections: Math.round(numberOption('connections', 32, 1)),
    rate: numberOption('rate', quick ? 200 : 2000, 1),
    rateDuration: numberOption('rate-duration', duration, 1),
    sockets: Math.round(numberOption('sockets', 16, 1)),
    cold: Math.round(numberOption('cold', quick ? 1 : 5, 0)),
    path: option('path') ?? '/rolldice/Alice',
    resultsDir: out !== undefined
      ? resolve(out)
      : quick
      ? mkdtempSync(join(tmpdir(), 'rolldice-bench-quick-'))
      : RESULTS_DIR,
    export: process.argv.includes('--export'),
    handler: process.argv.includes('--handler'),
    quick,
  };
}

const log = (message: string) => process.stderr.write(`${message}\n`);

async function main(): Promise<number> {
  if (process.argv.includes('--help')) {
    console.log(/\/\*\*([\s\S]*?)\*\//.exec(readFileSync(import.meta.filename, 'utf8'))?.[1]?.replace(/^ \* ?/gm, ''));
    return 0;
  }
  const options = parseOptions();
  const pinning = detectPinning();
  pinSelf(pinning, process.pid);
  log(`bench: ${pinning.reason}`);
  const ok = options.export
    ? await runExportBench(options.runtimes, pinning, options.resultsDir, { quick: options.quick })
    : options.handler
    ? await runHandlerBench(options.runtimes, pinning, options.resultsDir, options.rounds, { quick: options.quick })
    : await runServiceBench(options, pinning);
  return ok ? 0 : 1;
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.on(signal, () => {
    killAll();
    process.exit(130);
  });
}
process.on('exit', killAll);

main().then(
  (code) => (process.exitCode = code),
  (error) => {
    console.error(`bench: ${error instanceof UsageError ? error.message : ((error as Error).stack ?? error)}`);
    killAll();
    process.exitCode = 1;
  },
);
