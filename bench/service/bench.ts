/**
 * The service benchmark (`npm run bench`): for each runtime it starts the real service (the
 * adapter, as users start it) on core 0 in each mode, and drives it from core 1 in three
 * phases (load.ts):
 *   1. warm-up: wrk, saturating, not measured;
 *   2. latency at a fixed rate: the same open-loop rate in every mode (fixed-rate.ts),
 *      p50/p99/max from each request's intended send time; the p99 budget is checked here;
 *   3. saturation: wrk, closed loop, for req/s and the server's CPU per request (from /proc),
 *      then its RSS.
 * Modes run interleaved (bare, instrumented, gzip, down, bare, …) so that the machine's drift
 * hits them all alike; figures are medians. The down mode exports to a closed port.
 *
 * Writes latest.{json,md,svg} to the results directory. Fails only when something could not
 * be measured (a server that did not start, an instrumented server whose telemetry never
 * reached the sink); slow figures are reported, never failed: no timing assertion here.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { cpus, release } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { CLK_TCK, cpuBetween, type Pinning, rssBytes, sampleCpu } from '../lib/proc.ts';
import {
  coldStart,
  helloCommand,
  runtimeBinary,
  type RuntimeName,
  type Sink,
  type StartCommand,
  startCommands,
  startServer,
  startSink,
} from '../lib/processes.ts';
import { shownPath } from '../lib/output.ts';
import { type Spread, spread } from '../lib/stats.ts';
import { ensureWrk, runFixedRate, runLoad, type WrkResult, wrkVersion } from './load.ts';
import { budgetTable, coldStartTable, markdownReport, resultsTable, settingsLine, svgChart } from './report.ts';
import {
  type BenchResults,
  checkBudget,
  LOGS_PER_REQUEST,
  type Mode,
  MODE_LABELS,
  pairedCost,
  receivedRatio,
  type RoundSample,
  type RuntimeResult,
  SPANS_PER_REQUEST,
  summarize,
} from './results.ts';

export interface ServiceBenchOptions {
  runtimes: RuntimeName[];
  modes: Mode[];
  rounds: number;
  duration: number;
  warmup: number;
  connections: number;
  rate: number;
  rateDuration: number;
  sockets: number;
  cold: number;
  path: string;
  /** Where latest.{json,md,svg} go. */
  resultsDir: string;
}

/** Past the service's own shutdown deadline (src/service/shutdown.ts), so that it is the one to give up. */
const SHUTDOWN_GRACE_MILLIS = 35_000;
/** The down mode's export timeout: its shutdown flush retries a refused connection until then. */
const DOWN_EXPORT_TIMEOUT_MILLIS = 2_000;

const log = (message: string) => process.stderr.write(`${message}\n`);

function runtimeVersion(runtime: RuntimeName): string {
  try {
    const out = execFileSync(runtimeBinary(runtime), ['--version'], { encoding: 'utf8' });
    return /(\d+\.\d+\.\d+)/.exec(out)?.[1] ?? out.trim();
  } catch {
    return '?';
  }
}

/** A port nothing listens on, for the collector-down mode: bound, read, released. */
function closedPort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => resolve(typeof address === 'object' && address ? address.port : 9));
    });
  });
}

/** The environment of each mode, on top of PORT=0 HOST=127.0.0.1 and no inherited OTEL_*. */
function modeEnv(mode: Mode, sinkUrl: string, downUrl: string): Record<string, string> {
  if (mode === 'bare') return { OTEL_SDK_DISABLED: 'true' };
  return {
    OTEL_TRACES_EXPORTER: 'otlp',
    OTEL_METRICS_EXPORTER: 'otlp',
    OTEL_LOGS_EXPORTER: 'otlp',
    OTEL_EXPORTER_OTLP_ENDPOINT: mode === 'down' ? downUrl : sinkUrl,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_TRACES_SAMPLER: 'always_on',
    ...(mode === 'gzip' ? { OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip' } : {}),
    // A refused export is retried until the export timeout, and the shutdown flush waits for
    // it: 2 s rather than the default 10 keeps each down round's exit short.
    ...(mode === 'down' ? { OTEL_EXPORTER_OTLP_TIMEOUT: String(DOWN_EXPORT_TIMEOUT_MILLIS) } : {}),
  };
}

interface Context {
  options: ServiceBenchOptions;
  pinning: Pinning;
  wrk: string;
  sink: Sink;
  downUrl: string;
  errors: string[];
  notes: string[];
}

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis));

/** Waits until the sink has received nothing new for 250 ms (at most 5 s). */
async function settle(sink: Sink): Promise<void> {
  const total = (c: Awaited<ReturnType<Sink['counts']>>) => c.traces.items + c.logs.items + c.metrics.items;
  let last = total(await sink.counts());
  for (const deadline = performance.now() + 5_000; performance.now() < deadline;) {
    await sleep(250);
    const now = total(await sink.counts());
    if (now === last) return;
    last = now;
  }
}

const loadErrors = (w: WrkResult) => Object.values(w.errors).reduce((a, b) => a + b, 0);

/**
 * One server life: start, warm up, latency at the fixed rate, saturation (CPU from /proc),
 * RSS, SIGTERM, count what reached the sink.
 */
async function measureRound(ctx: Context, start: StartCommand, mode: Mode, round: number): Promise<RoundSample> {
  const { options, pinning, wrk, sink } = ctx;
  const before = await sink.counts();
  const server = await startServer(start.runtime, modeEnv(mode, sink.url, ctx.downUrl), pinning, start);
  let stopped: Awaited<ReturnType<typeof server.stop>> | undefined;
  try {
    const load = (seconds: number) =>
      runLoad({ wrk, url: server.url + options.path, connections: options.connections, seconds, pinning });
    const warm = options.warmup > 0 ? await load(options.warmup) : undefined;
    // After the warm-up, so that the JIT is warm, and once the telemetry the saturated warm-up
    // queued has been exported: that backlog would otherwise land on the first requests at
    // the fixed rate, which measures the steady state at that rate.
    await settle(sink);
    const fixed = await runFixedRate({
      url: server.url + options.path,
      rate: options.rate,
      seconds: options.rateDuration,
      sockets: options.sockets,
      pinning,
    });
    const cpu0 = sampleCpu(server.pid);
    const measured = await load(options.duration);
    const cpu1 = sampleCpu(server.pid);
    const rss = rssBytes(server.pid) ?? Number.NaN;
    // SIGTERM and wait: the final flush must reach the sink before it is counted. With the
    // collector down it waits out the (shortened) export timeout.
    stopped = await server.stop(SHUTDOWN_GRACE_MILLIS);
    const after = await sink.counts();
    if (measured.requests === 0) throw new Error(`no request was answered; stderr:\n${server.stderr()}`);
    const cpu = cpuBetween(cpu0, cpu1);
    return {
      round,
      requests: measured.requests,
      sent: measured.requests + (warm?.requests ?? 0) + fixed.lifetime.answered,
      // wrk's in-flight requests at each stop, and the generator's failures, which the server
      // may have handled all the same.
      uncounted: options.connections * (warm ? 2 : 1) + fixed.lifetime.failed,
      rps: measured.requests / (measured.durationUs / 1e6),
      p50Ms: measured.latencyUs.p50 / 1000,
      p99Ms: measured.latencyUs.p99 / 1000,
      fixedRate: {
        rate: fixed.rate,
        achievedRate: fixed.achievedRate,
        p50Ms: fixed.latencyMs.p50,
        p99Ms: fixed.latencyMs.p99,
        maxMs: fixed.latencyMs.max,
        errors: fixed.errors,
        sendLagP99Ms: fixed.sendLagP99Ms,
      },
      cpuMicrosPerRequest: cpu.nanos / 1000 / measured.requests,
      kernelMicrosPerRequest: (cpu1.kernelNanos - cpu0.kernelNanos) / 1000 / measured.requests,
      cpuSource: cpu.source,
      rssMB: rss / 2 ** 20,
      received: {
        spans: after.traces.items - before.traces.items,
        logs: after.logs.items - before.logs.items,
        metricPoints: after.metrics.items - before.metrics.items,
        requests: ['traces', 'logs', 'metrics'].reduce(
          (n, s) => n + after[s as 'traces'].requests - before[s as 'traces'].requests,
          0,
        ),
        wireBytes: ['traces', 'logs', 'metrics'].reduce(
          (n, s) => n + after[s as 'traces'].wireBytes - before[s as 'traces'].wireBytes,
          0,
        ),
      },
      loadErrors: loadErrors(measured) + (warm ? loadErrors(warm) : 0),
      shutdown: stopped,
    };
  } finally {
    if (!stopped) await server.stop(5_000);
  }
}

/** What makes a round unusable rather than slow. */
function validate(sample: RoundSample, mode: Mode, label: string, sinkErrors: number): string[] {
  const problems: string[] = [];
  if (mode === 'otlp' || mode === 'gzip') {
    if (sample.received.spans === 0) {
      problems.push(`${label}: the sink received no span: the instrumented server exported nothing`);
    }
    if (sample.received.logs === 0) {
      problems.push(`${label}: the sink received no log record: the instrumented server exported nothing`);
    }
  }
  if (sinkErrors > 0) problems.push(`${label}: the sink could not decode ${sinkErrors} request(s)`);
  return problems;
}

/** What is worth telling but does not spoil the measurement: a slow or failed shutdown. */
function shutdownNote(sample: RoundSample, mode: Mode, label: string): string | undefined {
  const { code, millis, killed } = sample.shutdown;
  // With the collector down the flush is expected to take its export timeout, not much more,
  // and to fail: the service then exits 1 (src/service/shutdown.ts), as it should.
  const expectedMillis = mode === 'down' ? DOWN_EXPORT_TIMEOUT_MILLIS + 1_500 : 2_000;
  const expectedCode = mode === 'down' ? 1 : 0;
  if (killed) return `${label}: still running ${(SHUTDOWN_GRACE_MILLIS / 1000).toFixed(0)} s after SIGTERM, killed`;
  if (code !== expectedCode || millis > expectedMillis) {
    return `${label}: SIGTERM to exit took ${(millis / 1000).toFixed(1)} s, exit code ${code}`;
  }
  return undefined;
}

/**
 * A fixed-rate phase the server did not keep up with, or with failed requests: its latency is
 * then queueing behind an overload, worth saying next to the figure.
 */
function fixedRateNote(sample: RoundSample, label: string): string | undefined {
  const f = sample.fixedRate;
  const problems: string[] = [];
  if (f.achievedRate < 0.98 * f.rate) problems.push(`answered ${f.achievedRate.toFixed(0)} of ${f.rate} req/s`);
  if (f.errors > 0) problems.push(`${f.errors} request(s) failed or timed out`);
  if (f.sendLagP99Ms > 5) problems.push(`the generator itself sent up to ${f.sendLagP99Ms.toFixed(1)} ms late (p99)`);
  return problems.length > 0 ? `${label}: at the fixed rate, ${problems.join('; ')}` : undefined;
}

function describeSample(s: RoundSample, mode: Mode): string {
  const f = s.fixedRate;
  const base =
    `at ${f.rate} req/s p50 ${f.p50Ms.toFixed(2)} / p99 ${f.p99Ms.toFixed(2)} / max ${f.maxMs.toFixed(1)} ms; ` +
    `saturated ${s.rps.toFixed(0)} req/s, p99 ${s.p99Ms.toFixed(2)} ms, ${
      s.cpuMicrosPerRequest.toFixed(1)
    } µs CPU/req (${s.cpuSource}), ` +
    `RSS ${s.rssMB.toFixed(0)} MB`;
  const exit = `exit ${s.shutdown.code} in ${s.shutdown.millis.toFixed(0)} ms`;
  if (mode === 'bare') return base;
  if (mode === 'down') return `${base}, ${exit}`;
  const pct = (received: number, perRequest: number) =>
    `${(receivedRatio(received, s, perRequest) * 100).toFixed(1)} %`;
  return `${base}, spans ${s.received.spans} (${pct(s.received.spans, SPANS_PER_REQUEST)}), ` +
    `logs ${s.received.logs} (${pct(s.received.logs, LOGS_PER_REQUEST)}), ` +
    `${s.received.metricPoints} metric points, ${exit}`;
}

async function benchCommand(ctx: Context, start: StartCommand): Promise<RuntimeResult> {
  const { options } = ctx;
  const { runtime } = start;
  const samples: RuntimeResult['samples'] = {};
  for (let round = 1; round <= options.rounds; round++) {
    for (const mode of options.modes) {
      const label = `${start.line} ${MODE_LABELS[mode]} round ${round}/${options.rounds}`;
      try {
        const sinkErrorsBefore = (await ctx.sink.counts()).errors;
        const sample = await measureRound(ctx, start, mode, round);
        const problems = validate(sample, mode, label, (await ctx.sink.counts()).errors - sinkErrorsBefore);
        ctx.errors.push(...problems);
        for (const note of [shutdownNote(sample, mode, label), fixedRateNote(sample, label)]) {
          if (note) ctx.notes.push(note);
        }
        log(`bench: ${label}: ${describeSample(sample, mode)}${problems.length ? ' [ERROR]' : ''}`);
        // An instrumented round that exported nothing is not a fast result: leave it out.
        if (problems.some((p) => p.includes('exported nothing'))) continue;
        (samples[mode] ??= []).push(sample);
      } catch (error) {
        ctx.errors.push(`${label}: ${(error as Error).message}`);
        log(`bench: ${label}: FAILED: ${(error as Error).message}`);
      }
    }
  }

  const coldStartMs: RuntimeResult['coldStartMs'] = {};
  if (options.cold > 0) {
    const hello: number[] = [];
    const bare: number[] = [];
    const instrumented: number[] = [];
    for (let i = 0; i < options.cold; i++) {
      // Interleaved too, so that a burst of noise does not land on one side only.
      for (const [mode, into] of [['hello', hello], ['bare', bare], ['otlp', instrumented]] as const) {
        try {
          into.push(
            mode === 'hello'
              ? await coldStart(runtime, {}, ctx.pinning, helloCommand(runtime))
              : await coldStart(runtime, modeEnv(mode, ctx.sink.url, ctx.downUrl), ctx.pinning, start),
          );
        } catch (error) {
          const what = mode === 'hello' ? `${runtime} hello` : `${start.line} ${MODE_LABELS[mode]}`;
          ctx.errors.push(`cold start of ${what}: ${(error as Error).message}`);
        }
      }
    }
    coldStartMs.hello = spread(hello);
    coldStartMs.bare = spread(bare);
    coldStartMs.instrumented = spread(instrumented);
    const ms = (s: Spread | undefined) => (s ? `${s.median.toFixed(0)} ms` : 'failed');
    log(
      `bench: ${start.line} cold start: ${runtime} hello ${ms(coldStartMs.hello)}, bare ${
        ms(coldStartMs.bare)
      }, instrumented ${ms(coldStartMs.instrumented)}`,
    );
  }

  const summary: RuntimeResult['summary'] = {};
  for (const mode of options.modes) if (samples[mode]?.length) summary[mode] = summarize(samples[mode], mode);
  const telemetryCostMicros: RuntimeResult['telemetryCostMicros'] = {};
  for (const mode of ['otlp', 'gzip', 'down'] as const) {
    const cost = pairedCost(samples.bare, samples[mode]);
    if (cost) telemetryCostMicros[mode] = cost;
  }
  const partial = {
    runtime,
    command: start.line,
    version: runtimeVersion(runtime),
    samples,
    summary,
    telemetryCostMicros,
    coldStartMs,
  };
  return { ...partial, budget: checkBudget(partial, options.rate) };
}

/** The newest modification time of the files under `path`. */
function newestMtime(path: string): number {
  const stat = statSync(path);
  if (!stat.isDirectory()) return stat.mtimeMs;
  return Math.max(stat.mtimeMs, ...readdirSync(path).map((name) => newestMtime(join(path, name))));
}

/**
 * dist/{node,deno,bun}.js are what the start commands run. Build them when a fresh checkout
 * has none, and when the sources are newer: a stale bundle would measure yesterday's code.
 */
function ensureBuild(runtimes: RuntimeName[]): void {
  const sources = Math.max(...['mod.ts', 'src', 'runtimes'].map(newestMtime));
  const stale = runtimes.map((r) => `dist/${r}.js`).filter((f) => !existsSync(f) || statSync(f).mtimeMs < sources);
  if (stale.length === 0) return;
  log(`bench: ${stale.join(', ')} missing or older than the sources; running npm run build`);
  execFileSync('npm', ['run', 'build'], { stdio: 'inherit' });
}

function writeResults(results: BenchResults, dir: string): void {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'latest.json'), JSON.stringify(results, null, 2) + '\n');
  writeFileSync(join(dir, 'latest.md'), markdownReport(results));
  writeFileSync(join(dir, 'latest.svg'), svgChart(results));
}

export async function runServiceBench(options: ServiceBenchOptions, pinning: Pinning): Promise<boolean> {
  const wrk = ensureWrk(log);
  ensureBuild(options.runtimes);
  const sink = await startSink(pinning);
  const ctx: Context = {
    options,
    pinning,
    wrk,
    sink,
    downUrl: `http://127.0.0.1:${await closedPort()}`,
    errors: [],
    notes: [],
  };
  const runtimes: RuntimeResult[] = [];
  try {
    for (const start of startCommands(options.runtimes)) runtimes.push(await benchCommand(ctx, start));
  } finally {
    sink.stop();
  }

  const results: BenchResults = {
    kind: 'rolldice-bench',
    date: new Date().toISOString(),
    machine: { cpus: cpus().length, cpuModel: cpus()[0]?.model.trim() ?? '?', kernel: release(), clockTicks: CLK_TCK },
    settings: {
      rounds: options.rounds,
      durationSeconds: options.duration,
      warmupSeconds: options.warmup,
      connections: options.connections,
      rate: options.rate,
      rateSeconds: options.rateDuration,
      rateSockets: options.sockets,
      path: options.path,
      coldStarts: options.cold,
      modes: options.modes,
      pinning: pinning.reason,
      loadGenerator: `wrk ${wrkVersion(wrk)} (saturation), bench/service/fixed-rate.ts on Node ${
        runtimeVersion('node')
      } (fixed rate)`,
    },
    runtimes,
    errors: ctx.errors,
    notes: ctx.notes,
  };
  writeResults(results, options.resultsDir);
  console.log(
    `\n${settingsLine(results)}\n\n${resultsTable(results)}\n\n${coldStartTable(results)}\n\n${budgetTable(results)}\n`,
  );
  if (ctx.notes.length > 0) console.log(`notes:\n${ctx.notes.map((n) => `  - ${n}`).join('\n')}\n`);
  console.log(`bench: wrote ${shownPath(options.resultsDir)}/latest.{json,md,svg}`);
  if (ctx.errors.length > 0) {
    console.error(
      `\nbench: could not measure everything:\n${
        ctx.errors.map((e) => `  - ${e.split('\n').slice(0, 3).join(' / ')}`).join('\n')
      }`,
    );
    return false;
  }
  return true;
}
