/**
 * Starts and stops the real OpenTelemetry Collector and Zipkin server that
 * `tools/prepare-real-components.ts` put in the cache: for `tests/real/` and `tools/demo.ts`.
 * Everything listens on 127.0.0.1 only.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import net from 'node:net';
import { join } from 'node:path';
import process from 'node:process';
import { OTELCOL_DIR } from './prepare-real-components.ts';

/** The configs under tools/otelcol/, by name: the ones docs/collector.md explains. */
export const CONFIGS = {
  gateway: join(OTELCOL_DIR, 'gateway.yaml'),
  agent: join(OTELCOL_DIR, 'agent.yaml'),
  testFileOutput: join(OTELCOL_DIR, 'test-file-output.yaml'),
} as const;

export interface RunningProcess {
  /** Where it serves, e.g. http://127.0.0.1:4318. */
  url: string;
  port: number;
  /** Everything it printed so far, stdout and stderr together. */
  output(): string;
  /** Resolves with the exit code (or signal name) once the process has ended. */
  exited: Promise<number | string>;
  /** SIGTERM, then SIGKILL if it is still running after `graceMillis`; resolves once it has ended. */
  stop(graceMillis?: number): Promise<void>;
}

/** A port that was free a moment ago on 127.0.0.1. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/** True when nothing listens on 127.0.0.1:`port` yet, so a Collector's readiness check cannot be fooled. */
export function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', () => resolve(false));
    server.listen(port, '127.0.0.1', () => server.close(() => resolve(true)));
  });
}

/** Polls `ready` every 50 ms until it holds, the process ends, or the deadline passes. */
async function waitUntil(
  what: string,
  child: RunningProcess,
  ready: () => Promise<boolean>,
  timeoutMillis: number,
): Promise<void> {
  const deadline = Date.now() + timeoutMillis;
  let ended: number | string | undefined;
  child.exited.then((code) => (ended = code));
  for (;;) {
    if (ended !== undefined) {
      throw new Error(`${what} exited with ${ended} before it was ready:\n${tail(child.output())}`);
    }
    if (await ready()) return;
    if (Date.now() > deadline) {
      await child.stop(1000);
      throw new Error(`${what} was not ready within ${timeoutMillis} ms:\n${tail(child.output())}`);
    }
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

function tail(text: string, lines = 30): string {
  return text.trimEnd().split('\n').slice(-lines).join('\n');
}

function accepts(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

function launch(command: string, args: string[], env: Record<string, string>, port: number): RunningProcess {
  const child: ChildProcess = spawn(command, args, {
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
  const exited = new Promise<number | string>((resolve) => {
    child.on('error', (error) => {
      output += `${error.message}\n`;
      resolve('spawn error');
    });
    child.on('close', (code, signal) => resolve(code ?? signal ?? 'unknown'));
  });
  let done = false;
  exited.then(() => (done = true));
  return {
    url: `http://127.0.0.1:${port}`,
    port,
    output: () => output,
    exited,
    async stop(graceMillis = 10_000) {
      if (done) return;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMillis);
      await exited;
      clearTimeout(timer);
    },
  };
}

export interface CollectorOptions {
  /** Config files, merged in order (a later file's lists replace an earlier one's). */
  configs: string[];
  /** The OTLP/HTTP port; a free one when not given. */
  port?: number;
  /** More environment, e.g. ZIPKIN_ENDPOINT, OTELCOL_FILE_PATH, OTELCOL_GATEWAY_ENDPOINT. */
  env?: Record<string, string>;
  timeoutMillis?: number;
}

/** Starts the Collector binary and resolves once its OTLP/HTTP receiver accepts connections. */
export async function startCollector(binary: string, options: CollectorOptions): Promise<RunningProcess> {
  const port = options.port ?? (await freePort());
  if (!(await portFree(port))) throw new Error(`Cannot start the Collector: port ${port} on 127.0.0.1 is in use`);
  const collector = launch(binary, options.configs.map((path) => `--config=file:${path}`), {
    OTELCOL_OTLP_HTTP_ENDPOINT: `127.0.0.1:${port}`,
    // Its own metrics on any free port, so that several Collectors can run side by side.
    OTELCOL_METRICS_PORT: '0',
    ...options.env,
  }, port);
  await waitUntil('The Collector', collector, () => accepts(port), options.timeoutMillis ?? 30_000);
  return collector;
}

/** The JVM flags Zipkin runs with: a small heap, and the quickest start on a small machine. */
const ZIPKIN_JVM_FLAGS = ['-Xms64m', '-Xmx512m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1'];

/** Starts Zipkin (in-memory storage) and resolves once /health says UP. */
export async function startZipkin(
  jar: string,
  options: { port?: number; timeoutMillis?: number } = {},
): Promise<RunningProcess> {
  const port = options.port ?? (await freePort());
  if (!(await portFree(port))) throw new Error(`Cannot start Zipkin: port ${port} on 127.0.0.1 is in use`);
  const zipkin = launch(
    'java',
    [
      ...ZIPKIN_JVM_FLAGS,
      '-jar',
      jar,
      // Armeria, Zipkin's server, listens on every interface unless told otherwise.
      `--armeria.ports[0].ip=127.0.0.1`,
      `--armeria.ports[0].port=${port}`,
      '--armeria.ports[0].protocols=http',
    ],
    {},
    port,
  );
  const healthy = async () => {
    try {
      const response = await fetch(`${zipkin.url}/health`);
      return response.ok && (await response.json()).status === 'UP';
    } catch {
      return false;
    }
  };
  await waitUntil('Zipkin', zipkin, healthy, options.timeoutMillis ?? 60_000);
  return zipkin;
}

/** A span as Zipkin's v2 API returns it (the fields the tests and the demo read). */
export interface ZipkinSpan {
  traceId: string;
  id: string;
  parentId?: string;
  name?: string;
  kind?: 'CLIENT' | 'SERVER' | 'PRODUCER' | 'CONSUMER';
  localEndpoint?: { serviceName?: string };
  tags?: Record<string, string>;
}

/** The Zipkin UI's page for one trace. */
export function zipkinTraceUrl(zipkin: { url: string }, traceId: string): string {
  return `${zipkin.url}/zipkin/traces/${traceId}`;
}

/** Polls Zipkin's API until the trace has at least `spans` spans; resolves with them. */
export async function fetchZipkinTrace(
  zipkin: { url: string },
  traceId: string,
  spans: number,
  timeoutMillis = 20_000,
): Promise<ZipkinSpan[]> {
  const deadline = Date.now() + timeoutMillis;
  let last: unknown = 'no answer yet';
  for (;;) {
    try {
      const response = await fetch(`${zipkin.url}/api/v2/trace/${traceId}`);
      last = response.ok ? await response.json() : `${response.status} ${await response.text()}`;
      if (Array.isArray(last) && last.length >= spans) return last as ZipkinSpan[];
    } catch (error) {
      last = (error as Error).message;
    }
    if (Date.now() > deadline) {
      throw new Error(
        `Zipkin had no trace ${traceId} with ${spans} spans within ${timeoutMillis} ms; last answer: ${
          JSON.stringify(last).slice(0, 2000)
        }`,
      );
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

/** Polls Zipkin's API until a trace of `serviceName` has at least `spans` spans; resolves with its id. */
export async function findZipkinTrace(
  zipkin: { url: string },
  serviceName: string,
  spans: number,
  timeoutMillis = 20_000,
): Promise<string> {
  const deadline = Date.now() + timeoutMillis;
  for (;;) {
    try {
      const response = await fetch(
        `${zipkin.url}/api/v2/traces?serviceName=${encodeURIComponent(serviceName)}&limit=20`,
      );
      const traces = response.ok ? ((await response.json()) as ZipkinSpan[][]) : [];
      const complete = traces.find((trace) => trace.length >= spans);
      if (complete) return complete[0]!.traceId;
    } catch {
      // not answering yet: polled again below
    }
    if (Date.now() > deadline) {
      throw new Error(`Zipkin had no trace of ${serviceName} with ${spans} spans within ${timeoutMillis} ms`);
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
}
