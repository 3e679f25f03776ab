/**
 * `npm run bench -- --handler`: what each signal costs per request, without a server. Runs
 * bench/handler/worker.ts under each runtime on core 0, in several configurations, against the
 * sink on core 1, interleaved over rounds:
 *
 *   bare       OTEL_SDK_DISABLED=true
 *   sdk        spans, log records and metric points made, nothing exported (every exporter `none`)
 *   traces     + the span exporter (batch processor, protobuf, fetch) — the others `none`
 *   logs       + the log exporter alone
 *   metrics    + the metric reader and exporter alone
 *   all        all three exported, as in the service's benchmark
 *
 * Each figure is process CPU per request minus bare's of the same round, so the HTTP server,
 * the kernel and the load generator are out of the picture: this is the telemetry's own cost.
 * Writes bench/results/handler.{json,md}.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import type { Pinning } from '../lib/proc.ts';
import { runBenchWorker, type RuntimeName, type Sink, startSink } from '../lib/processes.ts';
import { formatSpread, type Spread, spread } from '../lib/stats.ts';
import { markdownTable, shownPath } from '../lib/output.ts';
import type { HandlerSample } from './worker.ts';

const WORKER = join(import.meta.dirname, 'worker.ts');
/** Measured requests, and the worker's warm-up before them (exported too); a quick run sends far fewer. */
const FULL = { requests: 100_000, warmup: 50_000 };
const QUICK = { requests: 2_000, warmup: 1_000 };
type Size = typeof FULL;

type Variant = 'bare' | 'sdk' | 'traces' | 'logs' | 'metrics' | 'all';
const VARIANTS: readonly Variant[] = ['bare', 'sdk', 'traces', 'logs', 'metrics', 'all'];
const LABELS: Record<Variant, string> = {
  bare: 'bare (SDK disabled)',
  sdk: 'SDK, nothing exported',
  traces: 'spans exported',
  logs: 'log records exported',
  metrics: 'metrics exported',
  all: 'all three exported',
};

function variantConfig(variant: Variant, sinkUrl: string): Record<string, string> {
  if (variant === 'bare') return { OTEL_SDK_DISABLED: 'true' };
  const exporter = (signal: Variant) => (variant === 'all' || variant === signal ? 'otlp' : 'none');
  return {
    OTEL_TRACES_EXPORTER: exporter('traces'),
    OTEL_LOGS_EXPORTER: exporter('logs'),
    OTEL_METRICS_EXPORTER: exporter('metrics'),
    OTEL_EXPORTER_OTLP_ENDPOINT: sinkUrl,
    OTEL_EXPORTER_OTLP_PROTOCOL: 'http/protobuf',
    OTEL_TRACES_SAMPLER: 'always_on',
  };
}

interface RuntimeHandlerResult {
  runtime: RuntimeName;
  cpuMicros: Partial<Record<Variant, Spread>>;
  /** Paired per round: the variant's CPU µs per request minus bare's. */
  costMicros: Partial<Record<Variant, Spread>>;
}

/** What the sink must have received from one run: everything, or the figure is too cheap. */
async function checkReceived(
  sink: Sink,
  variant: Variant,
  before: Awaited<ReturnType<Sink['counts']>>,
  size: Size,
): Promise<string | undefined> {
  const after = await sink.counts();
  const requests = size.requests + size.warmup;
  const expected: [string, number, number][] = [];
  if (variant === 'traces' || variant === 'all') {
    expected.push(['spans', after.traces.items - before.traces.items, 2 * requests]);
  }
  if (variant === 'logs' || variant === 'all') {
    expected.push(['log records', after.logs.items - before.logs.items, requests]);
  }
  if (variant === 'metrics' || variant === 'all') {
    expected.push(['metric points', after.metrics.items - before.metrics.items, 1]);
  }
  const short = expected.filter(([, got, want]) => got < want);
  return short.length === 0 ? undefined : short.map(([what, got, want]) => `${got} of ${want} ${what}`).join(', ');
}

async function benchRuntime(
  runtime: RuntimeName,
  sink: Sink,
  pinning: Pinning,
  rounds: number,
  size: Size,
  errors: string[],
): Promise<RuntimeHandlerResult> {
  const samples: Partial<Record<Variant, Map<number, number>>> = {};
  for (let round = 1; round <= rounds; round++) {
    for (const variant of VARIANTS) {
      const label = `${runtime} ${LABELS[variant]} round ${round}/${rounds}`;
      try {
        const before = await sink.counts();
        const sample = await runBenchWorker<HandlerSample>(
          runtime,
          WORKER,
          [JSON.stringify(variantConfig(variant, sink.url)), String(size.requests), String(size.warmup)],
          'handler',
          pinning,
        );
        const lost = await checkReceived(sink, variant, before, size);
        if (lost) {
          errors.push(`${label}: the sink received only ${lost}`);
          continue;
        }
        (samples[variant] ??= new Map()).set(round, sample.cpuMicros);
        process.stderr.write(`bench: ${label}: ${sample.cpuMicros.toFixed(2)} µs CPU per request\n`);
      } catch (error) {
        errors.push(`${label}: ${(error as Error).message.split('\n')[0]}`);
      }
    }
  }
  const cpuMicros: RuntimeHandlerResult['cpuMicros'] = {};
  const costMicros: RuntimeHandlerResult['costMicros'] = {};
  for (const variant of VARIANTS) {
    const byRound = samples[variant];
    if (!byRound) continue;
    cpuMicros[variant] = spread([...byRound.values()]);
    if (variant === 'bare') continue;
    const paired = [...byRound].flatMap(([round, micros]) => {
      const floor = samples.bare?.get(round);
      return floor === undefined ? [] : [micros - floor];
    });
    const cost = spread(paired);
    if (cost) costMicros[variant] = cost;
  }
  return { runtime, cpuMicros, costMicros };
}

function table(results: RuntimeHandlerResult[]): string {
  const rows = results.flatMap((r) =>
    VARIANTS.map((
      v,
    ) => [r.runtime, LABELS[v], formatSpread(r.cpuMicros[v], 1), v === 'bare' ? '' : formatSpread(r.costMicros[v], 1)])
  );
  return markdownTable(['runtime', 'configuration', 'CPU µs/req', 'telemetry µs/req (− bare)'], rows);
}

export async function runHandlerBench(
  runtimes: RuntimeName[],
  pinning: Pinning,
  resultsDir: string,
  rounds: number,
  { quick = false }: { quick?: boolean } = {},
): Promise<boolean> {
  const size = quick ? QUICK : FULL;
  const sink = await startSink(pinning);
  const results: RuntimeHandlerResult[] = [];
  const errors: string[] = [];
  try {
    for (const runtime of runtimes) results.push(await benchRuntime(runtime, sink, pinning, rounds, size, errors));
  } finally {
    sink.stop();
  }
  const intro =
    `The service's fetch handler called in a loop, no server: ${size.requests / 1000}k GET /rolldice/Alice ` +
    `after ${
      size.warmup / 1000
    }k of warm-up, yielding to the event loop every 32; process CPU (every thread) per request; ` +
    `${rounds} interleaved round(s), medians (min–max); worker on core 0, OTLP sink on core 1; ` +
    'telemetry µs/req = the configuration minus bare, paired per round; metrics are exported once, at shutdown ' +
    '(the 60 s interval is longer than a run).';
  const text = table(results);
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(
    join(resultsDir, 'handler.json'),
    JSON.stringify(
      { date: new Date().toISOString(), pinning: pinning.reason, requests: size.requests, rounds, results, errors },
      null,
      2,
    ) + '\n',
  );
  writeFileSync(
    join(resultsDir, 'handler.md'),
    `## Telemetry cost per signal, without a server\n\n${intro}\n\n${text}\n`,
  );
  console.log(`\n${intro}\n\n${text}\n\nbench: wrote ${shownPath(resultsDir)}/handler.{json,md}`);
  if (errors.length > 0) {
    console.error(`\nbench: could not measure everything:\n${errors.map((e) => `  - ${e}`).join('\n')}`);
  }
  return errors.length === 0;
}
