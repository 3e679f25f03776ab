/**
 * An in-process OTLP/HTTP receiver on a loopback port, for tests on Node, Deno and Bun.
 * It records every request (decoded to canonical OTLP/JSON, see `_otlp-decode.ts`) and
 * answers as a collector would, or as a test's `respond()` says: an error status, a
 * request that never gets an answer, or a dropped connection; `down()` and `up()` make it go
 * away and come back on the same port.
 */
import { Buffer } from 'node:buffer';
import http from 'node:http';
import type { Socket } from 'node:net';
import { gunzipSync } from 'node:zlib';
import {
  decodeExportRequest,
  type FlatLogRecord,
  type FlatMetric,
  type FlatSpan,
  flattenLogRecords,
  flattenMetrics,
  flattenSpans,
  normalizeOtlpJson,
  type OtlpExportRequest,
  type OtlpSignal,
} from './_otlp-decode.ts';

export interface ReceivedRequest {
  /** From the path `/v1/traces|metrics|logs`; undefined for any other path. */
  signal: OtlpSignal | undefined;
  method: string;
  path: string;
  /** Lower-case names; repeated headers joined with `, `. */
  headers: Record<string, string>;
  contentType: string;
  contentEncoding: string | undefined;
  /** As received. */
  rawBody: Uint8Array;
  /** After gunzip when `content-encoding: gzip`. */
  body: Uint8Array;
  /** Canonical OTLP/JSON: decoded protobuf, or parsed and normalized JSON; undefined if unparseable. */
  document: OtlpExportRequest | undefined;
  /** Why the receiver rejected it (bad path, content type, gzip, undecodable body ...). */
  error?: string;
  /** The status the receiver answered with; undefined while unanswered, or when hung or dropped. */
  responseStatus?: number;
  receivedAt: number;
}

export type Responder = (req: ReceivedRequest, attempt: number) =>
  | { status: number; headers?: Record<string, string>; body?: string | Uint8Array }
  | 'hang'
  | 'drop'
  | undefined;

export interface OtlpReceiver {
  /** For example `http://127.0.0.1:41234`, without a trailing slash. */
  url: string;
  /** Every request in arrival order, including rejected ones. */
  requests: ReceivedRequest[];
  /**
   * Decides the answer to valid requests from now on; `attempt` counts requests to the same
   * path from 1 since this call. `undefined` restores the default: 200 with an empty response.
   */
  respond(responder: Responder | undefined): void;
  /** Resolves once `predicate` holds; rejects with what arrived so far on timeout (default 5000 ms). */
  waitFor(predicate: (r: OtlpReceiver) => boolean, timeoutMillis?: number): Promise<void>;
  /** Spans of accepted (2xx) trace requests, with `resource`, `scope` and `attributesObject`. */
  spans(): FlatSpan[];
  /** Log records of accepted requests, with `resource`, `scope`, `attributesObject` and `bodyValue`. */
  logRecords(): FlatLogRecord[];
  /** Metrics of accepted requests, with `resource` and `scope`. */
  metrics(): FlatMetric[];
  /** Ends hanging requests and open connections, then stops listening. */
  close(): Promise<void>;
  /**
   * A collector that goes away: stops listening and drops every connection, hanging requests
   * included, so that new ones are refused. `up()` listens again on the same port, with the
   * requests recorded so far kept.
   */
  down(): Promise<void>;
  up(): Promise<void>;
}

const PROTOBUF = 'application/x-protobuf';
const JSON_TYPE = 'application/json';
const SIGNAL_PATHS: Record<string, OtlpSignal> = {
  '/v1/traces': 'traces',
  '/v1/metrics': 'metrics',
  '/v1/logs': 'logs',
};
const GRPC_INVALID_ARGUMENT = 3;

interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string | Uint8Array;
}

/**
 * An error reply as OTLP/HTTP asks for: a google.rpc.Status in the request's encoding.
 * The protobuf form is written by hand: field 1 `code` (varint), field 2 `message` (string).
 */
function errorAnswer(status: number, message: string, contentType: string): Answer {
  if (contentType === JSON_TYPE) {
    return {
      status,
      headers: { 'content-type': JSON_TYPE },
      body: JSON.stringify({ code: GRPC_INVALID_ARGUMENT, message }),
    };
  }
  if (contentType === PROTOBUF) {
    const text = Buffer.from(message, 'utf8');
    const length: number[] = [];
    for (let n = text.length;; n >>>= 7) {
      if (n < 0x80) {
        length.push(n);
        break;
      }
      length.push((n & 0x7f) | 0x80);
    }
    const body = Buffer.concat([Buffer.from([0x08, GRPC_INVALID_ARGUMENT, 0x12, ...length]), text]);
    return { status, headers: { 'content-type': PROTOBUF }, body: new Uint8Array(body) };
  }
  return { status, headers: { 'content-type': 'text/plain; charset=utf-8' }, body: message };
}

/** Checks, gunzips and decodes a request; returns the status and reason for a rejected one. */
function accept(req: ReceivedRequest): { status: number; error: string } | undefined {
  if (req.signal === undefined) return { status: 404, error: `No OTLP endpoint at ${req.path}` };
  if (req.method !== 'POST') return { status: 405, error: `Method ${req.method} is not allowed, use POST` };
  if (req.contentType !== PROTOBUF && req.contentType !== JSON_TYPE) {
    return { status: 415, error: `Unsupported content-type ${JSON.stringify(req.contentType)}` };
  }
  if (req.contentEncoding === 'gzip') {
    try {
      req.body = new Uint8Array(gunzipSync(req.rawBody));
    } catch (error) {
      return { status: 400, error: `Body is not valid gzip: ${(error as Error).message}` };
    }
  } else if (req.contentEncoding !== undefined && req.contentEncoding !== 'identity') {
    return { status: 415, error: `Unsupported content-encoding ${JSON.stringify(req.contentEncoding)}` };
  }
  try {
    req.document = req.contentType === PROTOBUF
      ? decodeExportRequest(req.signal, req.body)
      : normalizeOtlpJson(JSON.parse(new TextDecoder().decode(req.body)), req.signal);
  } catch (error) {
    return { status: 400, error: `Cannot decode the body: ${(error as Error).message}` };
  }
  return undefined;
}

function successAnswer(contentType: string): Answer {
  // An empty protobuf message is zero bytes; the JSON form is `{}`.
  return contentType === PROTOBUF
    ? { status: 200, headers: { 'content-type': PROTOBUF }, body: new Uint8Array(0) }
    : { status: 200, headers: { 'content-type': JSON_TYPE }, body: '{}' };
}

function describeRequest(r: ReceivedRequest): string {
  const encoding = r.contentEncoding ? ` ${r.contentEncoding}` : '';
  const outcome = r.error ? `${r.responseStatus} (${r.error})` : String(r.responseStatus ?? 'unanswered');
  return `${r.method} ${r.path} [${r.contentType}${encoding}] → ${outcome}`;
}

/** Starts a receiver on 127.0.0.1; port 0 (the default) picks a free port. */
export async function startOtlpReceiver(options: { port?: number } = {}): Promise<OtlpReceiver> {
  const requests: ReceivedRequest[] = [];
  const sockets = new Set<Socket>();
  const hanging = new Set<http.ServerResponse>();
  const waiters = new Set<() => void>();
  let responder: Responder | undefined;
  let attempts = new Map<string, number>();

  const notify = () => {
    for (const check of [...waiters]) check();
  };

  const server = http.createServer((incoming, res) => {
    // A client that gives up mid-request must not crash the test process with an unhandled 'error'.
    incoming.on('error', () => {});
    res.on('error', () => {});
    const chunks: Uint8Array[] = [];
    incoming.on('data', (chunk: Uint8Array) => chunks.push(chunk));
    incoming.on('end', () => {
      const headers: Record<string, string> = {};
      for (const [name, value] of Object.entries(incoming.headers)) {
        if (value !== undefined) headers[name.toLowerCase()] = Array.isArray(value) ? value.join(', ') : value;
      }
      const path = (incoming.url ?? '/').split('?')[0]!;
      const rawBody = new Uint8Array(Buffer.concat(chunks));
      const req: ReceivedRequest = {
        signal: SIGNAL_PATHS[path],
        method: incoming.method ?? '',
        path,
        headers,
        // Media type only: parameters such as `charset` do not change the encoding.
        contentType: (headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase(),
        contentEncoding: headers['content-encoding']?.trim().toLowerCase(),
        rawBody,
        body: rawBody,
        document: undefined,
        receivedAt: Date.now(),
      };
      requests.push(req);

      let answer: Answer;
      const rejection = accept(req);
      if (rejection) {
        req.error = rejection.error;
        answer = errorAnswer(rejection.status, rejection.error, req.contentType);
      } else {
        const attempt = (attempts.get(path) ?? 0) + 1;
        attempts.set(path, attempt);
        let decision: ReturnType<Responder>;
        try {
          decision = responder?.(req, attempt);
        } catch (error) {
          // A failing assertion in a responder becomes a 500 the test can see, not a crash.
          req.error = `The responder threw: ${(error as Error).message}`;
          decision = errorAnswer(500, req.error, req.contentType);
        }
        if (decision === 'hang') {
          hanging.add(res);
          res.on('close', () => hanging.delete(res));
          notify();
          return;
        }
        if (decision === 'drop') {
          incoming.socket.destroy();
          notify();
          return;
        }
        answer = decision ?? successAnswer(req.contentType);
      }
      const replyHeaders: Record<string, string> = {
        'content-type': req.contentType || 'text/plain',
        ...answer.headers,
      };
      res.writeHead(answer.status, replyHeaders);
      res.end(
        answer.body === undefined
          ? undefined
          : typeof answer.body === 'string'
          ? answer.body
          : Buffer.from(answer.body),
      );
      req.responseStatus = answer.status;
      notify();
    });
  });
  // Tracked so close() can end keep-alive and hanging connections instead of waiting on them.
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
  });

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, '127.0.0.1', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address();
  if (address === null || typeof address === 'string') throw new Error('The OTLP receiver has no TCP address');

  const accepted = (signal: OtlpSignal): OtlpExportRequest[] =>
    requests.flatMap((r) =>
      r.signal === signal && r.document !== undefined && !r.error &&
        r.responseStatus !== undefined && r.responseStatus >= 200 && r.responseStatus < 300
        ? [r.document]
        : []
    );

  const receiver: OtlpReceiver = {
    url: `http://127.0.0.1:${address.port}`,
    requests,
    respond(next) {
      responder = next;
      attempts = new Map();
    },
    waitFor(predicate, timeoutMillis = 5000) {
      return new Promise<void>((resolve, reject) => {
        const check = () => {
          let done: boolean;
          try {
            done = predicate(receiver);
          } catch (error) {
            finish();
            reject(error);
            return;
          }
          if (done) {
            finish();
            resolve();
          }
        };
        const finish = () => {
          waiters.delete(check);
          clearTimeout(timer);
        };
        waiters.add(check);
        const timer = setTimeout(() => {
          finish();
          const seen = requests.length === 0 ? ' none' : '\n  ' + requests.map(describeRequest).join('\n  ');
          reject(
            new Error(
              `OTLP receiver: timed out after ${timeoutMillis} ms waiting for ${predicate.toString()}; requests so far:${seen}`,
            ),
          );
        }, timeoutMillis);
        check();
      });
    },
    spans: () => flattenSpans(accepted('traces')),
    logRecords: () => flattenLogRecords(accepted('logs')),
    metrics: () => flattenMetrics(accepted('metrics')),
    async close() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const res of hanging) res.socket?.destroy();
      for (const socket of sockets) socket.destroy();
      server.closeAllConnections?.();
      await closed;
    },
    down() {
      return receiver.close();
    },
    up() {
      return new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen(address.port, '127.0.0.1', () => {
          server.off('error', reject);
          resolve();
        });
      });
    },
  };
  return receiver;
}

/** Runs `fn` against a fresh receiver and always closes it. */
export async function withReceiver(fn: (receiver: OtlpReceiver) => Promise<void>): Promise<void> {
  const receiver = await startOtlpReceiver();
  try {
    await fn(receiver);
  } finally {
    await receiver.close();
  }
}
