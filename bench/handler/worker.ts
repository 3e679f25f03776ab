/**
 * The telemetry's own cost per request, without a server: on whichever runtime runs this file
 * (node, deno or bun), builds the service as the adapters do, from the configuration given as
 * JSON, and calls its fetch handler for one request after another, then divides the process's
 * CPU time (every thread: GC and JIT helpers included) by the requests.
 *
 *   <runtime> bench/handler/worker.ts '{"OTEL_EXPORTER_OTLP_ENDPOINT":"http://127.0.0.1:4318"}' REQUESTS WARMUP
 *
 * The configuration comes as an argument, not from the environment, so that Deno needs no
 * `--allow-env` beyond what `deno task start` grants. Prints one line `##handler {json}`.
 * Started by bench/handler/bench.ts (`npm run bench -- --handler`).
 */
import process from 'node:process';
import { startService } from '../../src/service/mod.ts';

export interface HandlerSample {
  requests: number;
  /** Process CPU (user + system) per request, µs. */
  cpuMicros: number;
  userMicros: number;
}

/** A server yields to its I/O and timers between requests; so does this loop, every this many. */
const YIELD_EVERY = 32;

const [configJson = '{}', requestsArg = '100000', warmupArg = '50000'] = process.argv.slice(2);
const env: Record<string, string> = JSON.parse(configJson);
const requests = Math.max(1, Math.round(Number(requestsArg)));
const warmup = Math.max(0, Math.round(Number(warmupArg)));
const runtimeName = 'Deno' in globalThis ? 'deno' : 'Bun' in globalThis ? 'bun' : 'node';

const service = startService({
  runtime: { name: runtimeName, version: process.versions[runtimeName] ?? process.versions.node ?? '0' },
  env,
  output: { stdout: () => {}, stderr: (text) => console.error(text) },
  exit: (code) => process.exit(code),
});

const yieldToEventLoop = () => new Promise((resolve) => setTimeout(resolve, 0));

async function run(n: number): Promise<void> {
  for (let i = 0; i < n; i++) {
    const response = await service.fetch(
      new Request('http://127.0.0.1:8080/rolldice/Alice', { headers: { 'user-agent': 'rolldice-bench' } }),
    );
    if (response.status !== 200) throw new Error(`GET /rolldice/Alice answered ${response.status}`);
    // Without this, no export would ever be sent (fetch needs the event loop) and the batch
    // queues would drop spans instead of exporting them: a cheaper, wrong figure.
    if (i % YIELD_EVERY === YIELD_EVERY - 1) await yieldToEventLoop();
  }
}

// Warm-up: the JIT, and the batch processors into their steady state.
await run(warmup);
const before = process.cpuUsage();
await run(requests);
const used = process.cpuUsage(before);
await service.telemetry.shutdown();

const sample: HandlerSample = {
  requests,
  cpuMicros: (used.user + used.system) / requests,
  userMicros: used.user / requests,
};
console.log(`##handler ${JSON.stringify(sample)}`);
