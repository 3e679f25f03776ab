/**
 * A minimal OTLP/HTTP receiver for the benchmarks, in its own process so that its work does
 * not land on the measured server's core. It answers every export with an empty 200 at once
 * and counts what it received per signal: requests, items (spans, log records, metric data
 * points), bytes on the wire and bytes after gunzip.
 *
 *   node bench/sink.ts          prints "sink: listening on http://127.0.0.1:PORT" on stdout
 *   GET  /counts                the counts so far, as JSON
 *
 * It exits when its stdin closes, so it never outlives the benchmark that started it.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import process from 'node:process';
import { gunzipSync } from 'node:zlib';
import { countJson, countProtobuf, type Signal } from './otlp-count.ts';

export interface SignalCounts {
  requests: number;
  items: number;
  wireBytes: number;
  rawBytes: number;
}

export type SinkCounts = Record<Signal, SignalCounts> & { errors: number; lastError?: string };

const PATHS: Record<string, Signal> = { '/v1/traces': 'traces', '/v1/logs': 'logs', '/v1/metrics': 'metrics' };

const zero = (): SignalCounts => ({ requests: 0, items: 0, wireBytes: 0, rawBytes: 0 });
const counts: SinkCounts = { traces: zero(), logs: zero(), metrics: zero(), errors: 0 };

function answer(res: ServerResponse, status: number, contentType: string, body: string | Uint8Array): void {
  res.writeHead(status, { 'content-type': contentType, 'content-length': String(body.length) });
  res.end(body);
}

interface Received {
  signal: Signal;
  json: boolean;
  gzip: boolean;
  body: Buffer;
}

/**
 * What arrived but is not counted yet. The sink shares its core with the load generator, so
 * it answers at once and decodes later, when the counts are asked for (between the
 * benchmark's phases): decoding while the generator measures latency would add the sink's
 * work to the instrumented server's figures.
 */
const pending: Received[] = [];
let pendingBytes = 0;
/** Past this, decode at once rather than hold more. */
const MAX_PENDING_BYTES = 128 * 2 ** 20;

function count({ signal, json, gzip, body }: Received): void {
  try {
    const raw = gzip ? gunzipSync(body) : body;
    const items = json ? countJson(signal, raw.toString('utf8')) : countProtobuf(signal, raw);
    const c = counts[signal];
    c.requests++;
    c.items += items;
    c.wireBytes += body.length;
    c.rawBytes += raw.length;
  } catch (error) {
    counts.errors++;
    counts.lastError = `${signal}: ${String(error)}`;
  }
}

function countPending(): void {
  for (const received of pending.splice(0)) count(received);
  pendingBytes = 0;
}

function receive(signal: Signal, req: IncomingMessage, body: Buffer, res: ServerResponse): void {
  const json = (req.headers['content-type'] ?? '').startsWith('application/json');
  pending.push({ signal, json, gzip: req.headers['content-encoding'] === 'gzip', body });
  pendingBytes += body.length;
  if (pendingBytes > MAX_PENDING_BYTES) countPending();
  // An empty Export*ServiceResponse: full success (no partial_success). A body that does not
  // decode is counted as an error when it is counted, which fails the benchmark.
  if (json) answer(res, 200, 'application/json', '{}');
  else answer(res, 200, 'application/x-protobuf', new Uint8Array(0));
}

const server = createServer({ keepAliveTimeout: 30_000 }, (req, res) => {
  const path = (req.url ?? '/').split('?')[0]!;
  if (req.method === 'GET' && path === '/counts') {
    countPending();
    return answer(res, 200, 'application/json', JSON.stringify(counts));
  }
  const signal = PATHS[path];
  if (req.method !== 'POST' || signal === undefined) return answer(res, 404, 'text/plain', 'not found\n');
  const chunks: Buffer[] = [];
  req.on('data', (chunk: Buffer) => chunks.push(chunk));
  req.on('end', () => receive(signal, req, Buffer.concat(chunks), res));
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as AddressInfo;
  process.stdout.write(`sink: listening on http://127.0.0.1:${port}\n`);
});

// The parent holds our stdin: when it closes (the benchmark ended or died), so do we.
process.stdin.resume();
process.stdin.on('end', () => process.exit(0));
process.stdin.on('error', () => process.exit(0));
