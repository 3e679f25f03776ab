/**
 * One trace across Node, Deno and Bun, in Zipkin's web UI:
 *
 *   node tools/demo.ts [--once] [--zipkin-port=9411] [--otlp-port=4318]
 *
 * Builds or reuses the Collector and Zipkin (tools/prepare-real-components.ts), starts Zipkin,
 * the gateway Collector (tools/otelcol/gateway.yaml) and the three services chained
 * node -> deno -> bun (ROLLDICE_UPSTREAM), all exporting to the Collector, sends a short burst
 * of requests, then prints the UI's address and a link to one complete trace. It runs until
 * Ctrl-C; with --once it stops everything and exits after printing. Everything listens on
 * 127.0.0.1 only. Needs Go, Java 17+ and Maven, and `npm ci` (which builds dist/node.js).
 */
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { type RunningService, startService } from '../tests/e2e/_service.ts';
import {
  collectorUnavailable,
  describeComponent,
  prepareCollector,
  prepareZipkin,
  zipkinUnavailable,
} from './prepare-real-components.ts';
import {
  CONFIGS,
  findZipkinTrace,
  type RunningProcess,
  startCollector,
  startZipkin,
  zipkinTraceUrl,
} from './real-components.ts';

const BURST = ['Alice', 'Bob', 'Carol', 'Dave', 'Erin', 'Frank', 'Grace', 'Heidi', 'Ivan', 'Judy'];

function option(name: string, fallback: string): string {
  const prefix = `--${name}=`;
  return process.argv.find((arg) => arg.startsWith(prefix))?.slice(prefix.length) ?? fallback;
}

const once = process.argv.includes('--once');
const zipkinPort = Number(option('zipkin-port', '9411'));
const otlpPort = Number(option('otlp-port', '4318'));

// The services' commands (package.json, deno.json, node_modules/.bin) are found from the repository root.
process.chdir(join(dirname(fileURLToPath(import.meta.url)), '..'));

const services: RunningService[] = [];
const components: RunningProcess[] = [];
let stopping: Promise<void> | undefined;

/** Services first (they flush into the Collector), then the Collector, then Zipkin. */
function stopAll(): Promise<void> {
  stopping ??= (async () => {
    for (const service of services) service.signal('SIGTERM');
    await Promise.all(
      services.map((service) => Promise.race([service.exited, new Promise((r) => setTimeout(r, 10_000))])),
    );
    for (const service of services) service.signal('SIGKILL');
    for (const component of components.reverse()) await component.stop();
  })();
  return stopping;
}

async function main(): Promise<void> {
  const missing = collectorUnavailable() ?? zipkinUnavailable();
  if (missing) throw new Error(missing);
  if (!existsSync('dist/node.js')) throw new Error('dist/node.js is missing: run `npm ci` or `npm run build` first');

  const [collectorBuild, zipkinJar] = await Promise.all([prepareCollector(), prepareZipkin()]);
  console.log(describeComponent(collectorBuild));
  console.log(describeComponent(zipkinJar));

  const zipkin = await startZipkin(zipkinJar.path, { port: zipkinPort });
  components.push(zipkin);
  const collector = await startCollector(collectorBuild.path, {
    configs: [CONFIGS.gateway],
    port: otlpPort,
    env: { ZIPKIN_ENDPOINT: `${zipkin.url}/api/v2/spans` },
  });
  components.push(collector);

  const env = (name: string, upstream?: string) => ({
    OTEL_SERVICE_NAME: name,
    OTEL_EXPORTER_OTLP_ENDPOINT: collector.url,
    // Spans reach Zipkin within a second rather than after the default 5 s.
    OTEL_BSP_SCHEDULE_DELAY: '500',
    ...(upstream ? { ROLLDICE_UPSTREAM: upstream } : {}),
  });
  // Each hop needs the next one's URL, so the chain starts from its end.
  const bun = await startService('bun', { env: env('dice-bun') });
  services.push(bun);
  const deno = await startService('deno', { env: env('dice-deno', bun.url) });
  services.push(deno);
  const node = await startService('node', { env: env('dice-node', deno.url) });
  services.push(node);

  const rolls: string[] = [];
  for (const player of BURST) {
    const response = await fetch(`${node.url}/rolldice/${player}`);
    rolls.push((await response.text()).trim());
  }
  // 3 hops x (SERVER, roll) + 2 CLIENT spans make a complete trace.
  const traceId = await findZipkinTrace(zipkin, 'dice-node', 8);

  console.log(`
services   node ${node.url} -> deno ${deno.url} -> bun ${bun.url}
collector  OTLP/HTTP ${collector.url} (tools/otelcol/gateway.yaml) -> Zipkin
requests   ${BURST.length} to ${node.url}/rolldice/{player}, rolled ${rolls.join(' ')}

Zipkin UI: ${zipkin.url}/zipkin/
One trace: ${zipkinTraceUrl(zipkin, traceId)}
`);
}

process.once('SIGINT', () => void stopAll().then(() => process.exit(0)));
process.once('SIGTERM', () => void stopAll().then(() => process.exit(0)));

try {
  await main();
  if (once) {
    await stopAll();
  } else {
    console.log('Running until Ctrl-C.');
    // Kept alive by the child processes' pipes; the signal handlers above end it.
  }
} catch (error) {
  console.error(`demo: ${(error as Error).message}`);
  await stopAll();
  process.exitCode = 1;
}
