/**
 * `npm run bench -- --export`: the export path alone, per runtime. Runs bench/export/worker.ts
 * under each runtime's binary on core 0 against the sink on core 1, and reports how long
 * encoding and sending 10 000 items takes per signal, encoding and compression.
 *
 * Writes bench/results/export.{json,md}.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import type { Pinning } from '../lib/proc.ts';
import { runBenchWorker, type RuntimeName, startSink } from '../lib/processes.ts';
import { spread } from '../lib/stats.ts';
import { markdownTable, shownPath } from '../lib/output.ts';
import type { ExportCase } from './worker.ts';

const WORKER = join(import.meta.dirname, 'worker.ts');

function runWorker(runtime: RuntimeName, sinkUrl: string, items: number, pinning: Pinning): Promise<ExportCase[]> {
  return runBenchWorker<{ cases: ExportCase[] }>(runtime, WORKER, [sinkUrl, String(items)], 'export', pinning)
    .then((r) => r.cases);
}

interface RuntimeExport {
  runtime: RuntimeName;
  cases: ExportCase[];
}

function table(results: RuntimeExport[]): string {
  const rows = results.flatMap(({ runtime, cases }) =>
    cases.map((c) => {
      const ms = spread(c.millis)!;
      const seconds = ms.median / 1000;
      return [
        runtime,
        c.signal,
        c.protocol === 'http/json' ? 'json' : 'protobuf',
        c.compression,
        ms.median.toFixed(1),
        `${((c.items / seconds) / 1000).toFixed(0)}k`,
        (c.rawBytes / 1e6).toFixed(2),
        (c.wireBytes / 1e6).toFixed(2),
        (c.rawBytes / 1e6 / seconds).toFixed(1),
        c.received === c.items ? 'yes' : `${c.received}/${c.items}`,
      ];
    })
  );
  return markdownTable(
    [
      'runtime',
      'signal',
      'encoding',
      'compression',
      'ms (median of 3)',
      'items/s',
      'payload MB',
      'wire MB',
      'payload MB/s',
      'all received',
    ],
    rows,
  );
}

export async function runExportBench(
  runtimes: RuntimeName[],
  pinning: Pinning,
  resultsDir: string,
  { quick = false }: { quick?: boolean } = {},
): Promise<boolean> {
  // A quick run sends a fifth of the items: enough to see the path work.
  const items = quick ? 2_000 : 10_000;
  const sink = await startSink(pinning);
  const results: RuntimeExport[] = [];
  const errors: string[] = [];
  try {
    for (const runtime of runtimes) {
      process.stderr.write(`bench: export path on ${runtime}…\n`);
      try {
        const cases = await runWorker(runtime, sink.url, items, pinning);
        results.push({ runtime, cases });
        for (const c of cases) {
          if (c.received !== c.items) {
            errors.push(
              `${runtime} ${c.signal} ${c.protocol} ${c.compression}: the sink counted ${c.received} of ${c.items}`,
            );
          }
        }
      } catch (error) {
        errors.push((error as Error).message);
      }
    }
  } finally {
    sink.stop();
  }
  const n = items.toLocaleString('en').replace(/,/g, ' ');
  const batches = Math.ceil(items / 512);
  const intro = `${n} spans (${batches} requests of ≤ 512), ${n} log records (${batches} of ≤ 512) and ${n} metric ` +
    `points (${items / 1000} requests of 1 000) through the project's OTLP/HTTP exporters to a loopback sink, one ` +
    'export at a time; payload = encoded size before gzip, MB/s over it.';
  const text = table(results);
  mkdirSync(resultsDir, { recursive: true });
  writeFileSync(
    join(resultsDir, 'export.json'),
    JSON.stringify({ date: new Date().toISOString(), pinning: pinning.reason, results, errors }, null, 2) + '\n',
  );
  writeFileSync(join(resultsDir, 'export.md'), `## Export path\n\n${intro}\n\n${text}\n`);
  console.log(`\n${intro}\n\n${text}\n\nbench: wrote ${shownPath(resultsDir)}/export.{json,md}`);
  if (errors.length > 0) {
    console.error(`\nbench: could not measure everything:\n${errors.map((e) => `  - ${e.split('\n')[0]}`).join('\n')}`);
  }
  return errors.length === 0;
}
