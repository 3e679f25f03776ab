/**
 * One OTLP/HTTP request per `send()`, with `fetch`, for every runtime. Written here because
 * otlp-exporter-base does not export its fetch transport, and that one is built for browsers
 * (keepalive budgets, no compression, network errors with a `cause` treated as permanent).
 *
 * It classifies each answer as the OTLP specification says (opentelemetry-proto
 * docs/specification.md, "OTLP/HTTP Response"): 2xx is success, 429/502/503/504, connection
 * failures and a request that ran out of its time are retryable, every other status is
 * permanent. Retrying is the job of the delivery queue (`delivery.ts`).
 */
import { context, diag } from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { readBodyUpTo } from '../http/body.ts';
import { describeError } from '../errors.ts';
import { type ExportError, exportError, reasonOf } from './export-error.ts';

export interface FetchTransportOptions {
  /** The full signal URL, e.g. `http://localhost:4318/v1/traces`. */
  url: string;
  contentType: 'application/x-protobuf' | 'application/json';
  /** Sent with every request; `content-type`, `content-encoding` and `user-agent` are set here. */
  headers: Record<string, string>;
  compression: 'gzip' | 'none';
  /** The exporter's product token, e.g. `OTel-OTLP-Exporter-JavaScript/0.301.1`. */
  userAgent: string;
  /**
   * Hands fetch the request as one chunk of a `ReadableStream`, with its `Content-Length`,
   * rather than as bytes. For Node: its fetch copies a byte body twice on the way to the socket
   * (a copy of the buffer source, then a byte stream's clone), and the garbage collector pays
   * for each (bench/README.md has the figures). Not for Deno,
   * whose fetch sends a stream chunked whatever `Content-Length` says. @default false
   */
  streamBody?: boolean;
  /** The fetch that sends the requests. @default globalThis.fetch at the time of each request */
  fetch?: typeof fetch;
}

/** What one request came to: the body of a 2xx answer, or why it failed and whether to retry. */
export type SendResult =
  | { status: 'success'; data?: Uint8Array }
  | { status: 'retryable'; error: ExportError; retryInMillis?: number }
  | { status: 'failure'; error: ExportError };

/** Sends prepared request bodies to one OTLP/HTTP endpoint. */
export interface FetchTransport {
  /** The URL without credentials, safe to print. */
  readonly endpoint: string;
  /**
   * The request body for `data`, gzipped when configured; done once per batch, however often
   * it is sent. Rejects with an ExportError when the batch can never be sent.
   */
  prepare(data: Uint8Array): Promise<Uint8Array>;
  /** One request, abandoned after `timeoutMillis` or when `signal` aborts; never rejects. */
  send(body: Uint8Array, timeoutMillis: number, signal?: AbortSignal): Promise<SendResult>;
  /** Aborts the requests in flight and refuses new ones. */
  shutdown(): void;
}

/** The client SHOULD limit the request body, before compression; 20 MiB is the recommended limit. */
export const MAX_REQUEST_BYTES = 20 * 1024 * 1024;
/** Error bodies are read only for `Status.message`; more than this is not worth holding. */
const MAX_RESPONSE_BYTES = 64 * 1024;
const RETRYABLE_STATUSES = new Set([429, 502, 503, 504]);
/**
 * RFC 9110 reason phrases, so a diagnostic reads the same whatever the server sent: HTTP/2
 * has no reason phrase at all, and servers word some differently (413).
 */
const REASON_PHRASES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  405: 'Method Not Allowed',
  408: 'Request Timeout',
  413: 'Content Too Large',
  415: 'Unsupported Media Type',
  429: 'Too Many Requests',
  500: 'Internal Server Error',
  501: 'Not Implemented',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

function checkUrl(url: string): string | undefined {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return 'it is not a valid URL';
  }
  return parsed.protocol === 'http:' || parsed.protocol === 'https:'
    ? undefined
    : `its scheme ${JSON.stringify(parsed.protocol.slice(0, -1))} is not http or https`;
}

/** Drops `user:password@` so a URL can go into a diagnostic. */
export function withoutCredentials(url: string): string {
  try {
    const parsed = new URL(url);
    if (parsed.username === '' && parsed.password === '') return url;
    parsed.username = '';
    parsed.password = '';
    return parsed.href;
  } catch {
    return url;
  }
}

/**
 * `Retry-After` is delay-seconds or an HTTP-date (RFC 9110 §10.2.3); `0` and a date in the
 * past both mean "now", never a negative timer. Undefined when absent or unparseable (a
 * negative number included), so the caller falls back to its own backoff.
 */
export function parseRetryAfter(value: string | null, wallClockNow: number = Date.now()): number | undefined {
  if (value === null) return undefined;
  const text = value.trim();
  if (/^\d+$/.test(text)) return Number(text) * 1000;
  // Every HTTP-date form names the month; Date.parse alone would take "-5" for a year.
  const date = /[a-z]{3}/i.test(text) ? Date.parse(text) : Number.NaN;
  if (Number.isNaN(date)) return undefined;
  return Math.max(0, date - wallClockNow);
}

/**
 * `Status.message` from an error answer: a protobuf- or JSON-encoded google.rpc.Status as
 * OTLP asks for, or plain text from a proxy. Undefined when there is nothing readable.
 */
export function describeErrorBody(body: Uint8Array, contentType: string | null): string | undefined {
  if (body.length === 0) return undefined;
  const type = (contentType ?? '').split(';')[0]!.trim().toLowerCase();
  let message: string | undefined;
  try {
    if (type === 'application/x-protobuf') message = decodeStatusMessage(body);
    else if (type === 'application/json') {
      const parsed: unknown = JSON.parse(new TextDecoder().decode(body));
      const field = (parsed as { message?: unknown } | null)?.message;
      message = typeof field === 'string' ? field : undefined;
    } else if (type.startsWith('text/')) message = new TextDecoder().decode(body);
  } catch {
    return undefined;
  }
  message = message?.replace(/\s+/g, ' ').trim();
  if (!message) return undefined;
  return message.length > 300 ? `${message.slice(0, 300)}…` : message;
}

/** Field 2 (`message`, a string) of google.rpc.Status; the only field a client needs. */
function decodeStatusMessage(bytes: Uint8Array): string | undefined {
  let pos = 0;
  const varint = (): number => {
    let result = 0;
    for (let shift = 0;; shift += 7) {
      if (pos >= bytes.length || shift > 63) throw new Error('Truncated varint');
      const b = bytes[pos++]!;
      result += (b & 0x7f) * 2 ** shift;
      if ((b & 0x80) === 0) return result;
    }
  };
  while (pos < bytes.length) {
    const tag = varint();
    const wireType = tag & 7;
    if (wireType === 0) varint();
    else if (wireType === 1) pos += 8;
    else if (wireType === 5) pos += 4;
    else if (wireType === 2) {
      const length = varint();
      if (pos + length > bytes.length) throw new Error('Truncated field');
      if (tag >>> 3 === 2) return new TextDecoder().decode(bytes.subarray(pos, pos + length));
      pos += length;
    } else throw new Error(`Unsupported wire type ${wireType}`);
  }
  return undefined;
}

/**
 * Reads at most `limit` bytes of a body and cancels the rest, so the connection is freed.
 * Empty when the body breaks off: the status has been received and is what counts, and a
 * 2xx must never turn into a failure, or the accepted data would be sent again.
 */
async function readBody(response: Response, limit: number): Promise<Uint8Array> {
  try {
    return await readBodyUpTo(response, limit);
  } catch (error) {
    diag.debug(`Cannot read the OTLP response body: ${reasonOf(error)}`);
    return new Uint8Array(0);
  }
}

/** `fetch` and `Blob` take only ArrayBuffer-backed views; the serializers' type is wider. */
function asBufferView(data: Uint8Array): Uint8Array<ArrayBuffer> {
  return data.buffer instanceof ArrayBuffer ? (data as Uint8Array<ArrayBuffer>) : new Uint8Array(data);
}

async function gzip(data: Uint8Array): Promise<Uint8Array<ArrayBuffer>> {
  const stream = new Blob([asBufferView(data)]).stream().pipeThrough(new CompressionStream('gzip'));
  return new Uint8Array(await new Response(stream).arrayBuffer());
}

/** `init` with `body` as the one chunk of a stream, its length given, and redirects returned. */
function streamed(init: RequestInit, body: Uint8Array<ArrayBuffer>): RequestInit {
  const headers = new Headers(init.headers);
  headers.set('content-length', String(body.length));
  return {
    ...init,
    headers,
    body: new ReadableStream<Uint8Array>({
      start(controller) {
        controller.enqueue(body);
        controller.close();
      },
    }),
    // Required with a stream body; not yet in every runtime's RequestInit type.
    duplex: 'half',
    redirect: 'manual',
  } as RequestInit;
}

function isRedirect(status: number): boolean {
  return status >= 300 && status < 400 && status !== 304;
}

class FetchTransportImpl implements FetchTransport {
  readonly endpoint: string;
  #url: string;
  #headers: Headers;
  #gzip: boolean;
  /** Why the URL cannot work, found once rather than retried as a network error. */
  #urlProblem: string | undefined;
  /** Aborts every request in flight at shutdown. */
  #shutdown = new AbortController();
  #streamBody: boolean;
  #fetch: (url: string, init: RequestInit) => Promise<Response>;

  constructor(options: FetchTransportOptions) {
    this.#fetch = options.fetch ?? ((url, init) => fetch(url, init));
    this.#url = options.url;
    this.endpoint = withoutCredentials(options.url);
    this.#gzip = options.compression === 'gzip';
    this.#streamBody = options.streamBody ?? false;
    this.#urlProblem = checkUrl(options.url);
    if (this.#urlProblem) diag.error(`Cannot export to ${this.endpoint}: ${this.#urlProblem}`);
    const headers = new Headers();
    for (const [name, value] of Object.entries(options.headers)) {
      try {
        headers.append(name, value);
      } catch {
        // One bad header must not stop the exporter; the collector will say if it needed it.
        diag.error(`Ignoring the OTLP header ${JSON.stringify(name)}: not a valid HTTP header name and value`);
      }
    }
    // The spec asks for the exporter's token in the User-Agent; a configured one goes first.
    const configuredAgent = headers.get('user-agent');
    headers.set('user-agent', configuredAgent ? `${configuredAgent} ${options.userAgent}` : options.userAgent);
    headers.set('content-type', options.contentType);
    if (this.#gzip) headers.set('content-encoding', 'gzip');
    else headers.delete('content-encoding');
    this.#headers = headers;
  }

  async prepare(data: Uint8Array): Promise<Uint8Array> {
    if (this.#urlProblem) throw exportError(`cannot export to ${this.endpoint}: ${this.#urlProblem}`, 'invalid_url');
    if (data.length > MAX_REQUEST_BYTES) {
      throw exportError(
        `the request of ${data.length} bytes is over the ${MAX_REQUEST_BYTES}-byte OTLP limit`,
        'request_too_large',
      );
    }
    if (!this.#gzip) return data;
    try {
      return await gzip(data);
    } catch (error) {
      throw exportError(`cannot gzip the request: ${reasonOf(error)}`, 'compression_failed', error);
    }
  }

  async send(data: Uint8Array, timeoutMillis: number, signal?: AbortSignal): Promise<SendResult> {
    if (this.#shutdown.signal.aborted) {
      return { status: 'failure', error: exportError(`the exporter to ${this.endpoint} is shut down`, 'shutdown') };
    }
    const body = asBufferView(data);
    // One controller per request, aborted by its timer or by shutdown; a listener rather than
    // AbortSignal.any(), which has leaked dependent signals on long-lived ones in some runtimes.
    const abort = new AbortController();
    let abortedBy: 'timeout' | 'shutdown' | undefined;
    const started = performance.now();
    const onShutdown = () => {
      abortedBy ??= 'shutdown';
      abort.abort();
    };
    const onTimeout = () => {
      abortedBy ??= 'timeout';
      abort.abort();
    };
    const timer = setTimeout(onTimeout, Math.max(0, timeoutMillis));
    this.#shutdown.signal.addEventListener('abort', onShutdown, { once: true });
    // The caller's own signal shortens the timeout: a deadline came closer.
    signal?.addEventListener('abort', onTimeout, { once: true });
    try {
      // Suppressed so that an instrumented fetch does not trace the exporter's own requests.
      const post = (init: RequestInit) =>
        context.with(suppressTracing(context.active()), () => this.#fetch(this.#url, init));
      const bytes: RequestInit = { method: 'POST', headers: this.#headers, body, signal: abort.signal };
      let response = await post(this.#streamBody ? streamed(bytes, body) : bytes);
      if (this.#streamBody && isRedirect(response.status)) {
        // A streamed body cannot be sent again to where a 307 or 308 points: the bytes can.
        await response.body?.cancel();
        response = await post(bytes);
      }
      return await this.#classify(response);
    } catch (error) {
      if (abortedBy === 'shutdown') {
        return {
          status: 'failure',
          error: exportError(
            `the exporter was shut down before the collector at ${this.endpoint} answered`,
            'shutdown',
            error,
          ),
        };
      }
      if (abortedBy === 'timeout') {
        // A stalled connection: the same bytes may well go through on another one.
        return {
          status: 'retryable',
          error: exportError(
            `the collector at ${this.endpoint} did not answer within ${Math.round(performance.now() - started)} ms`,
            'timeout',
            error,
          ),
        };
      }
      // Connection refused or reset, DNS failure, a server that hung up: the spec says retry.
      return {
        status: 'retryable',
        error: exportError(
          `could not reach the collector at ${this.endpoint}: ${describeError(error)}`,
          'connection_failed',
          error,
        ),
      };
    } finally {
      clearTimeout(timer);
      this.#shutdown.signal.removeEventListener('abort', onShutdown);
      signal?.removeEventListener('abort', onTimeout);
    }
  }

  async #classify(response: Response): Promise<SendResult> {
    const status = response.status;
    if (status >= 200 && status < 300) {
      const body = await readBody(response, MAX_RESPONSE_BYTES);
      return body.length > 0 ? { status: 'success', data: body } : { status: 'success' };
    }
    const detail = describeErrorBody(
      await readBody(response, MAX_RESPONSE_BYTES),
      response.headers.get('content-type'),
    );
    const answered = `${status} ${REASON_PHRASES[status] ?? response.statusText}`.trim();
    const reason = `the collector at ${this.endpoint} answered ${answered}${detail ? `: ${detail}` : ''}`;
    const error = exportError(reason, String(status));
    if (RETRYABLE_STATUSES.has(status)) {
      const retryInMillis = parseRetryAfter(response.headers.get('retry-after'));
      return retryInMillis === undefined
        ? { status: 'retryable', error }
        : { status: 'retryable', retryInMillis, error };
    }
    return { status: 'failure', error };
  }

  shutdown(): void {
    this.#shutdown.abort();
  }
}

export function createFetchTransport(options: FetchTransportOptions): FetchTransport {
  return new FetchTransportImpl(options);
}
