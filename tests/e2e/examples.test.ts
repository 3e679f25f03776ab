/**
 * Each example in examples/, started on its runtime exactly as its header says, with PORT, an
 * UPSTREAM to call and the test OTLP receiver as the collector: one request to
 * /rolldice/Alice must give one SERVER span named after its route, with its status and the
 * client's address, a duration point with http.route, and a CLIENT span whose context reached
 * the upstream in `traceparent`. The Hono examples also answer with Hono's getConnInfo.
 * Runs under Node; spawns Node, Deno and Bun.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { type ChildProcess, spawn } from 'node:child_process';
import http from 'node:http';
import { connect, createServer } from 'node:net';
import process from 'node:process';
import { startOtlpReceiver } from '../_otlp-receiver.ts';
import { RUNTIME_COMMANDS } from '../_runtimes.ts';
import { attributesToObject } from '../_otlp-decode.ts';

const SERVER = 2;
const CLIENT = 3;

const EXAMPLES = [
  { file: 'examples/deno/serve.ts', runtime: 'deno', hono: false },
  { file: 'examples/deno/hono.ts', runtime: 'deno', hono: true },
  { file: 'examples/bun/serve.ts', runtime: 'bun', hono: false },
  { file: 'examples/bun/hono.ts', runtime: 'bun', hono: true },
  { file: 'examples/node/http.ts', runtime: 'node', hono: false },
  { file: 'examples/node/hono.ts', runtime: 'node', hono: true },
] as const;

/** The command line each example's header gives. */
function commandFor(runtime: 'node' | 'deno' | 'bun', file: string): { command: string; args: string[] } {
  const { command } = RUNTIME_COMMANDS[runtime];
  if (runtime === 'deno') return { command, args: ['run', '--allow-net', '--allow-env=PORT,UPSTREAM,OTEL_*', file] };
  return { command, args: [file] };
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

/** Resolves once something accepts connections on the port (no HTTP request, so no span). */
async function listening(port: number, child: ChildProcess, stderr: () => string): Promise<void> {
  const deadline = performance.now() + 20_000;
  while (performance.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`exited with ${child.exitCode}:\n${stderr()}`);
    const open = await new Promise<boolean>((resolve) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.destroy();
        resolve(true);
      });
      socket.on('error', () => resolve(false));
    });
    if (open) return;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  throw new Error(`nothing listened on ${port}:\n${stderr()}`);
}

/** A stand-in upstream that keeps the headers it receives. */
async function startUpstream() {
  const headers: http.IncomingHttpHeaders[] = [];
  const server = http.createServer((req, res) => {
    headers.push(req.headers);
    res.end('ok');
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  return {
    url: `http://127.0.0.1:${port}/audit`,
    headers,
    close: () => new Promise<void>((resolve) => (server.closeAllConnections(), server.close(() => resolve()))),
  };
}

describe('examples', () => {
  for (const example of EXAMPLES) {
    test(`${example.file} on ${example.runtime}: one SERVER span with its route, the duration metric, the context upstream`, async () => {
      const receiver = await startOtlpReceiver();
      const upstream = await startUpstream();
      const port = await freePort();
      const { command, args } = commandFor(example.runtime, example.file);
      const env = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('OTEL_')));
      const child = spawn(command, args, {
        env: { ...env, PORT: String(port), UPSTREAM: upstream.url, OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let stderr = '';
      child.stderr!.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
      child.stdout!.resume();
      const exited = new Promise<number | null>((resolve) => child.on('close', (code) => resolve(code)));
      try {
        await listening(port, child, () => stderr);
        const response = await fetch(`http://127.0.0.1:${port}/rolldice/Alice`);
        assert.equal(response.status, 200);
        assert.match(await response.text(), /^[1-6]\n$/);
        // Hono's getConnInfo answers as without instrumentation: the runtime's own address, which
        // Node and Bun give IPv4-mapped on a dual-stack socket; the telemetry says 127.0.0.1.
        if (example.hono) assert.match(response.headers.get('x-client-address')!, /^(::ffff:)?127\.0\.0\.1$/);
        child.kill('SIGTERM');
        assert.equal(await exited, 0, stderr);

        const spans = receiver.spans();
        const servers = spans.filter((s) => s.kind === SERVER);
        assert.equal(servers.length, 1, JSON.stringify(spans.map((s) => s.name)));
        const server = servers[0]!;
        assert.equal(server.name, 'GET /rolldice/:player');
        assert.equal(server.attributesObject['http.route'], '/rolldice/:player');
        assert.equal(server.attributesObject['http.response.status_code'], 200);
        assert.equal(server.attributesObject['client.address'], '127.0.0.1');
        assert.equal(server.resource['process.runtime.name'], example.runtime === 'node' ? 'nodejs' : example.runtime);

        const duration = receiver.metrics().filter((m) => m.name === 'http.server.request.duration').at(-1);
        const points = duration?.histogram?.dataPoints ?? [];
        assert.equal(points.length, 1);
        const attributes = attributesToObject(points[0]!.attributes);
        assert.equal(attributes['http.route'], '/rolldice/:player');

        const clients = spans.filter((s) => s.kind === CLIENT);
        assert.equal(clients.length, 1);
        assert.equal(clients[0]!.parentSpanId, server.spanId);
        assert.equal(upstream.headers.length, 1);
        assert.match(
          String(upstream.headers[0]!.traceparent),
          new RegExp(`^00-${server.traceId}-${clients[0]!.spanId}-0[13]$`),
        );
      } finally {
        child.kill('SIGKILL');
        await upstream.close();
        await receiver.close();
      }
    });
  }
});
