import {
  type Attributes,
  type Context,
  context,
  diag,
  type Histogram,
  type MeterProvider,
  metrics,
  propagation,
  ROOT_CONTEXT,
  type Span,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapPropagator,
  trace,
  type Tracer,
  type TracerProvider,
} from '@opentelemetry/api';
import {
  ATTR_CLIENT_ADDRESS,
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_METHOD_ORIGINAL,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_HTTP_ROUTE,
  ATTR_NETWORK_PEER_ADDRESS,
  ATTR_NETWORK_PEER_PORT,
  ATTR_NETWORK_PROTOCOL_VERSION,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_PATH,
  ATTR_URL_QUERY,
  ATTR_URL_SCHEME,
  ATTR_USER_AGENT_ORIGINAL,
  ERROR_TYPE_VALUE_OTHER,
  METRIC_HTTP_SERVER_REQUEST_DURATION,
} from '@opentelemetry/semantic-conventions';
import { parseRequestTarget, redactQuery } from '../url.ts';
import { denoTracesRequests } from '../runtime.ts';
import { describeError } from '../errors.ts';
import {
  contentLength,
  HTTP_DURATION_BUCKETS_SECONDS,
  httpSpanName,
  KNOWN_HTTP_METHODS,
  plainAddress,
} from './semconv.ts';
import { PACKAGE_NAME, VERSION } from '../version.ts';

// Development in the pinned semantic conventions (1.45.0), so not exported as constants by
// its stable entry point; emitted only when asked for (`bodySizeMetrics`).
const METRIC_HTTP_SERVER_REQUEST_BODY_SIZE = 'http.server.request.body.size';
const METRIC_HTTP_SERVER_RESPONSE_BODY_SIZE = 'http.server.response.body.size';

/**
 * What a server adapter that builds its own handler argument tells the instrumentation beyond
 * the `Request`, for {@link createHttpServerInstrumentation}. Handlers wrapped with
 * {@link instrument} need none of this: it reads the peer from the runtime's own argument.
 */
export interface ServerRequestInfo {
  /** The peer's IP address, e.g. `127.0.0.1`. */
  clientAddress?: string;
  /** The peer's port (`network.peer.port`), recorded only with `clientAddress`. */
  clientPort?: number;
  /** The HTTP version, e.g. `1.1`, when the runtime tells it. */
  protocolVersion?: string;
  /**
   * Set by {@link createHttpServerInstrumentation} for the handler it wraps: the request's
   * context (its SERVER span, the incoming baggage), for handlers that pass it on explicitly,
   * e.g. `tracer.startSpan(name, options, info.context)`.
   */
  context?: Context;
}

/** A handler that takes {@link ServerRequestInfo}: what {@link createHttpServerInstrumentation} wraps. */
export type FetchHandler = (request: Request, info?: ServerRequestInfo) => Response | Promise<Response>;

/**
 * Any fetch-style handler: `Deno.serve`'s `(request, info)`, `Bun.serve`'s
 * `fetch(request, server)`, Hono's and Workers' `fetch(request, env, ctx)`, or
 * @hono/node-server's `(request, { incoming, outgoing })`.
 */
// deno-lint-ignore no-explicit-any
export type AnyFetchHandler = (this: any, request: Request, ...args: any[]) => Response | Promise<Response>;

/** What every server instrumentation takes. */
export interface HttpServerOptions {
  /** Where the SERVER spans are made. @default the global tracer provider, as `registerOTel()` installs it */
  tracerProvider?: TracerProvider;
  /**
   * Where `http.server.request.duration` is recorded.
   * @default the global meter provider, looked up at the first request
   */
  meterProvider?: MeterProvider;
  /** Extracts the incoming context. @default the global propagator */
  propagator?: TextMapPropagator;
  /**
   * Also record `http.server.request.body.size` and `http.server.response.body.size` (bytes,
   * from `content-length` when the message has one). Off by default: both are still in
   * Development in the pinned semantic conventions, which keep development conventions
   * opt-in. @default false
   */
  bodySizeMetrics?: boolean;
}

/** Options of {@link instrument}. */
export interface InstrumentOptions extends HttpServerOptions {
  /**
   * The route template the handler serves, when it is one route, e.g. `/users/:id`: it is then
   * on the span from its start, for samplers. A router sets it per request instead, with
   * {@link setRoute} or the Hono middleware. @default none
   */
  route?: string;
  /**
   * Called with what the handler threw (or its promise rejected with), after it has been
   * recorded on the span. A `Response` it returns is sent instead; otherwise the error is
   * thrown on to the runtime, as without instrumentation (Deno's `onError`, Bun's `error`).
   * @default none: rethrow
   */
  onError?: (error: unknown, request: Request) => Response | undefined | void;
}

/** Options of {@link createHttpServerInstrumentation}. */
export interface InstrumentHandlerOptions extends HttpServerOptions {
  /** The route template, e.g. `/rolldice/{player}`: the span's name and `http.route`. */
  route?: string;
  /**
   * Whether the handler runs with its SERVER span as the active context (`context.with`), so
   * that `context.active()` and `startActiveSpan` inside it see the span, across `await` too.
   * `false` skips that for handlers that take `info.context` and pass it on themselves: the
   * context manager's AsyncLocalStorage costs CPU and garbage-collection time on every
   * request (most on Deno: bench/README.md). @default true
   */
  activateContext?: boolean;
  /**
   * With `bodySizeMetrics`: how to learn an answer's body size without reading its headers,
   * for a router that made the Response and knows it; `undefined` falls back to its
   * `Content-Length`. On Node, reading the headers of @hono/node-server's light Response makes
   * it build undici Headers and leave its fast path, a few µs a request. @default the header
   */
  responseBodySize?: (response: Response) => number | undefined;
}

/** Instruments many handlers with one tracer and one `http.server.request.duration` histogram. */
export interface HttpServerInstrumentation {
  /**
   * Wraps a handler of one route. The handler gets `info` with `context` set; a handler that
   * throws is answered `500`, with one diagnostic through `diag.error`.
   */
  instrument(handler: FetchHandler, route?: string): FetchHandler;
}

/** The instrumentation scope of the server spans and metrics: this package. */
export const HTTP_SERVER_SCOPE: typeof PACKAGE_NAME = PACKAGE_NAME;

const headersGetter: TextMapGetter<Headers> = {
  keys: (headers) => [...headers.keys()],
  get: (headers, key) => headers.get(key) ?? undefined,
};

/** The request being served, by `Request`, for {@link setRoute}; weak, so it goes with its request. */
const records = new WeakMap<Request, RequestRecord>();

interface Instruments {
  duration: Histogram;
  requestSize: Histogram | undefined;
  responseSize: Histogram | undefined;
}

/** The tracer, the instruments and the settings one instrumentation shares across requests. */
class ServerCore {
  readonly tracer: Tracer;
  readonly propagator: TextMapPropagator | undefined;
  /** Deno's built-in telemetry already makes the SERVER span of each request, and its metrics. */
  readonly runtimeTraces: boolean;
  #meterProvider: MeterProvider | undefined;
  #bodySizes: boolean;
  #instruments: Instruments | undefined;
  readonly responseBodySize: ((response: Response) => number | undefined) | undefined;

  constructor(options: HttpServerOptions & Pick<InstrumentHandlerOptions, 'responseBodySize'>) {
    this.tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(HTTP_SERVER_SCOPE, VERSION);
    this.propagator = options.propagator;
    this.#meterProvider = options.meterProvider;
    this.#bodySizes = options.bodySizeMetrics ?? false;
    this.responseBodySize = options.responseBodySize;
    this.runtimeTraces = denoTracesRequests();
  }

  /**
   * Made at the first request rather than at wrap time: the global meter provider is often
   * registered after the handler was wrapped, and the API's no-op meter would stay for good.
   */
  get instruments(): Instruments {
    if (this.#instruments) return this.#instruments;
    const meter = (this.#meterProvider ?? metrics.getMeterProvider()).getMeter(HTTP_SERVER_SCOPE, VERSION);
    const bytes = (name: string, description: string) =>
      this.#bodySizes ? meter.createHistogram(name, { description, unit: 'By' }) : undefined;
    this.#instruments = {
      duration: meter.createHistogram(METRIC_HTTP_SERVER_REQUEST_DURATION, {
        description: 'Duration of HTTP server requests.',
        unit: 's',
        advice: { explicitBucketBoundaries: HTTP_DURATION_BUCKETS_SECONDS },
      }),
      requestSize: bytes(METRIC_HTTP_SERVER_REQUEST_BODY_SIZE, 'Size of HTTP server request bodies.'),
      responseSize: bytes(METRIC_HTTP_SERVER_RESPONSE_BODY_SIZE, 'Size of HTTP server response bodies.'),
    };
    return this.#instruments;
  }

  /** Starts the telemetry of one request: its SERVER span, or the one the runtime already made. */
  start(request: Request, peer: unknown, route: string | undefined): RequestRecord {
    const active = context.active();
    const existing = trace.getSpan(active);
    // Deno's built-in telemetry, or another SDK's node:http instrumentation, has already
    // started this request's SERVER span and made it active: a second one would be a lie.
    if (existing !== undefined && (this.runtimeTraces || (existing as { kind?: SpanKind }).kind === SpanKind.SERVER)) {
      return new RequestRecord(this, request, existing, active, request.method, route, undefined, undefined, true);
    }

    const started = performance.now();
    const target = parseRequestTarget(request.url);
    const known = KNOWN_HTTP_METHODS.has(request.method);
    const method = known ? request.method : '_OTHER';
    const attributes: Attributes = {
      [ATTR_HTTP_REQUEST_METHOD]: method,
      [ATTR_URL_SCHEME]: target.scheme,
      [ATTR_URL_PATH]: target.path,
      [ATTR_SERVER_ADDRESS]: target.host,
      [ATTR_SERVER_PORT]: target.port,
    };
    if (!known) attributes[ATTR_HTTP_REQUEST_METHOD_ORIGINAL] = request.method;
    if (target.query) attributes[ATTR_URL_QUERY] = redactQuery(target.query);
    if (route !== undefined) attributes[ATTR_HTTP_ROUTE] = route;
    const userAgent = request.headers.get('user-agent');
    if (userAgent !== null) attributes[ATTR_USER_AGENT_ORIGINAL] = userAgent;
    const protocolVersion = readPeer(request, peer, attributes);

    const parent = (this.propagator ?? propagation).extract(ROOT_CONTEXT, request.headers, headersGetter);
    const span = this.tracer.startSpan(
      httpSpanName(request.method, route),
      { kind: SpanKind.SERVER, attributes },
      parent,
    );
    return new RequestRecord(
      this,
      request,
      span,
      trace.setSpan(parent, span),
      method,
      route,
      protocolVersion,
      started,
      false,
    );
  }
}

/**
 * Reads the peer from the runtime's own argument, whatever the runtime: Deno's `info`, Bun's
 * `server`, @hono/node-server's `{ incoming }`, or a {@link ServerRequestInfo}. Sets the
 * client and peer attributes and returns the protocol version, when known.
 */
function readPeer(request: Request, peer: unknown, attributes: Attributes): string | undefined {
  if (peer === null || typeof peer !== 'object') return undefined;
  let address: unknown;
  let port: unknown;
  let protocolVersion: unknown;
  const given = peer as {
    remoteAddr?: { hostname?: unknown; port?: unknown };
    requestIP?: (request: Request) => { address?: unknown; port?: unknown } | null;
    incoming?: { socket?: { remoteAddress?: unknown; remotePort?: unknown }; httpVersion?: unknown };
    clientAddress?: unknown;
    clientPort?: unknown;
    protocolVersion?: unknown;
  };
  if (given.remoteAddr !== undefined) {
    // Deno.serve: `info.remoteAddr`, a NetAddr for TCP (a UnixAddr has no hostname).
    address = given.remoteAddr.hostname;
    port = given.remoteAddr.port;
  } else if (typeof given.requestIP === 'function') {
    // Bun.serve: the server, which knows each request's peer.
    const ip = given.requestIP(request);
    address = ip?.address;
    port = ip?.port;
  } else if (given.incoming !== undefined) {
    // node:http through @hono/node-server: the IncomingMessage and its socket.
    address = given.incoming.socket?.remoteAddress;
    port = given.incoming.socket?.remotePort;
    protocolVersion = given.incoming.httpVersion;
  } else {
    address = given.clientAddress;
    port = given.clientPort;
    protocolVersion = given.protocolVersion;
  }
  if (typeof address === 'string' && address !== '') {
    const plain = plainAddress(address);
    attributes[ATTR_CLIENT_ADDRESS] = plain;
    attributes[ATTR_NETWORK_PEER_ADDRESS] = plain;
    // `client.port` is Opt-In on server spans: the port goes in `network.peer.port` only.
    if (typeof port === 'number') attributes[ATTR_NETWORK_PEER_PORT] = port;
  }
  if (typeof protocolVersion === 'string' && protocolVersion !== '') {
    attributes[ATTR_NETWORK_PROTOCOL_VERSION] = protocolVersion;
    return protocolVersion;
  }
  return undefined;
}

function errorTypeOf(error: unknown): string {
  return error instanceof Error && error.name ? error.name : ERROR_TYPE_VALUE_OTHER;
}

/** One request's telemetry, from its start to its answer. */
class RequestRecord {
  /** The route, once known: given at wrap time, or set later by {@link setRoute}. */
  route: string | undefined;
  readonly context: Context;
  #core: ServerCore;
  #request: Request;
  #span: Span;
  #method: string;
  #initialRoute: string | undefined;
  #protocolVersion: string | undefined;
  #started: number | undefined;
  /** The span is the runtime's: add the route and any error to it, leave the rest alone. */
  readonly adopted: boolean;

  constructor(
    core: ServerCore,
    request: Request,
    span: Span,
    spanContext: Context,
    method: string,
    route: string | undefined,
    protocolVersion: string | undefined,
    started: number | undefined,
    adopted: boolean,
  ) {
    this.#core = core;
    this.#request = request;
    this.#span = span;
    this.context = spanContext;
    this.#method = method;
    this.route = route;
    this.#initialRoute = adopted ? undefined : route;
    this.#protocolVersion = protocolVersion;
    this.#started = started;
    this.adopted = adopted;
  }

  /** Records the answer and ends the span; returns the response as it was. */
  finish(response: Response, errorType?: string): Response {
    const span = this.#span;
    const route = this.route;
    if (route !== this.#initialRoute && route !== undefined) {
      span.updateName(httpSpanName(this.#request.method, route));
      span.setAttribute(ATTR_HTTP_ROUTE, route);
    }
    if (this.adopted) return response;

    const status = response.status;
    span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
    // A 4xx is the client's doing: only 5xx makes a server span an error.
    if (status >= 500 && errorType === undefined) {
      errorType = String(status);
      span.setStatus({ code: SpanStatusCode.ERROR });
    }
    if (errorType !== undefined) span.setAttribute(ATTR_ERROR_TYPE, errorType);
    span.end();
    this.#record(status, errorType, response);
    return response;
  }

  /** Records what the handler threw on the span; ends it when nothing will answer instead. */
  fail(error: unknown, answered: boolean): string {
    const span = this.#span;
    span.recordException(error instanceof Error ? error : String(error));
    span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
    const errorType = errorTypeOf(error);
    if (answered) return errorType;
    if (this.route !== this.#initialRoute && this.route !== undefined) {
      span.updateName(httpSpanName(this.#request.method, this.route));
      span.setAttribute(ATTR_HTTP_ROUTE, this.route);
    }
    if (this.adopted) return errorType;
    // The runtime answers (500, or what its error handler says): no status code to report.
    span.setAttribute(ATTR_ERROR_TYPE, errorType);
    span.end();
    this.#record(undefined, errorType, undefined);
    return errorType;
  }

  #record(status: number | undefined, errorType: string | undefined, response: Response | undefined): void {
    const instruments = this.#core.instruments;
    const target = parseRequestTarget(this.#request.url);
    const attributes: Attributes = {
      [ATTR_HTTP_REQUEST_METHOD]: this.#method,
      [ATTR_URL_SCHEME]: target.scheme,
    };
    if (status !== undefined) attributes[ATTR_HTTP_RESPONSE_STATUS_CODE] = status;
    if (this.route !== undefined) attributes[ATTR_HTTP_ROUTE] = this.route;
    if (this.#protocolVersion !== undefined) attributes[ATTR_NETWORK_PROTOCOL_VERSION] = this.#protocolVersion;
    if (errorType !== undefined) attributes[ATTR_ERROR_TYPE] = errorType;
    instruments.duration.record((performance.now() - this.#started!) / 1000, attributes, this.context);
    if (instruments.requestSize !== undefined) {
      const size = contentLength(this.#request.headers);
      if (size !== undefined) instruments.requestSize.record(size, attributes, this.context);
    }
    if (instruments.responseSize !== undefined && response !== undefined) {
      const size = this.#core.responseBodySize?.(response) ?? contentLength(response.headers);
      if (size !== undefined) instruments.responseSize.record(size, attributes, this.context);
    }
  }
}

/**
 * Wraps any fetch-style handler so that each request gets a SERVER span and a point on
 * `http.server.request.duration`, with the stable HTTP semantic conventions; call
 * `registerOTel()` first so that they are exported. The span is named `{method} {route}` once
 * the route is known (`options.route`, {@link setRoute}, or the Hono middleware of
 * `@rolldice/otel/hono`), else `{method}`. Its parent is the context the request carries (W3C
 * `traceparent`), and it is the active span while the handler runs, across `await`, so that
 * the spans the handler starts and the fetches it makes are its children. It ends when the
 * handler's `Response` is returned (a streamed body may still be sending); a 5xx answer, or a
 * handler that throws, marks it as an error.
 *
 * The handler is called with the runtime's own arguments, untouched (`this` too), and its
 * answer or error is passed back as it was, so the wrapped handler has the handler's own type:
 * `Deno.serve(instrument(handler))`, `Bun.serve({ fetch: instrument(app.fetch) })`,
 * `export default { fetch: instrument(app.fetch) }`, and on Node
 * `createServer(getRequestListener(instrument(app.fetch)))` with @hono/node-server. The
 * client's address and port are read from that argument (Deno's `info.remoteAddr`, Bun's
 * `server.requestIP()`, @hono/node-server's `incoming.socket`).
 *
 * Where Deno's built-in OpenTelemetry (`OTEL_DENO=true`) or another SDK has already made the
 * request's SERVER span, no second one is made: the route and any error are added to that one.
 *
 * @example
 * ```ts
 * import { instrument, registerOTel } from '@rolldice/otel';
 *
 * registerOTel({ serviceName: 'hello' });
 * Deno.serve(instrument((request) => new Response(`hello from ${new URL(request.url).pathname}`)));
 * ```
 */
export function instrument<H extends AnyFetchHandler>(handler: H, options: InstrumentOptions = {}): H {
  const core = new ServerCore(options);
  const { route, onError } = options;
  const track = route === undefined;
  const wrapped: AnyFetchHandler = handler;
  function instrumented(this: unknown, request: Request, second?: unknown, third?: unknown) {
    const record = core.start(request, second, route);
    if (track) records.set(request, record);
    let result: Response | Promise<Response>;
    try {
      result = record.adopted
        ? wrapped.call(this, request, second, third)
        : context.with(record.context, wrapped, this, request, second, third);
    } catch (error) {
      return recover(record, request, error, onError);
    }
    // Not awaited when the handler answers at once: no promise (and no AsyncLocalStorage
    // frame) is added to the request.
    return result instanceof Promise
      ? result.then((response) => record.finish(response), (error) => recover(record, request, error, onError))
      : record.finish(result);
  }
  return instrumented as H;
}

/** After a handler failed: its error on the span, then `onError`'s answer, or the error thrown on. */
function recover(
  record: RequestRecord,
  request: Request,
  error: unknown,
  onError: InstrumentOptions['onError'],
): Response {
  const response = onError?.(error, request);
  const answered = response instanceof Response;
  const errorType = record.fail(error, answered);
  if (answered) return record.finish(response, errorType);
  throw error;
}

/**
 * Sets the route of the request being served, once a router has matched it: the span becomes
 * `{method} {route}` with `http.route`, and `http.server.request.duration` gets `http.route`.
 * Without it, the span is named by the method alone and the durations of every route fall
 * together. Any router does it in one line, in its matched handler or in a
 * middleware that runs after matching; the Hono middleware does it from Hono's matched route.
 * The route must be the template, e.g. `/users/:id`, never the path itself: a route per user
 * would swamp the metrics. For a request {@link instrument} does not serve, it names the
 * active span instead, as Deno's documentation shows for its built-in telemetry.
 *
 * @example
 * ```ts
 * import { instrument, setRoute } from '@rolldice/otel';
 *
 * const user = new URLPattern({ pathname: '/users/:id' });
 * Deno.serve(instrument((request) => {
 *   const match = user.exec(request.url);
 *   if (match === null) return new Response('Not Found', { status: 404 });
 *   setRoute(request, '/users/:id');
 *   return new Response(`user ${match.pathname.groups.id}`);
 * }));
 * ```
 */
export function setRoute(request: Request, route: string): void {
  const record = records.get(request);
  if (record !== undefined) {
    record.route = route;
    return;
  }
  const span = trace.getActiveSpan();
  span?.updateName(httpSpanName(request.method, route));
  span?.setAttribute(ATTR_HTTP_ROUTE, route);
}

/**
 * Creates the HTTP server instrumentation for a router that knows each route before it
 * dispatches, and wraps each route's handler once: every handler gets `info.context` (its
 * SERVER span's context) and, unless `activateContext: false`, runs with it active. Unlike
 * {@link instrument}, a handler that throws is answered `500` with one `diag.error` line, and
 * the peer comes from the {@link ServerRequestInfo} the router passes. For anything else,
 * {@link instrument} is the wrapper to use.
 *
 * @example
 * ```ts
 * import { trace } from '@opentelemetry/api';
 * import { createHttpServerInstrumentation, registerOTel } from '@rolldice/otel';
 *
 * registerOTel({ serviceName: 'dice' });
 * const http = createHttpServerInstrumentation({ activateContext: false });
 * const roll = http.instrument((_request, info) => {
 *   // Not made active: the SERVER span's context is passed on by hand.
 *   trace.getTracer('dice').startSpan('roll', {}, info?.context).end();
 *   return new Response(String(1 + Math.floor(Math.random() * 6)));
 * }, '/rolldice');
 * Deno.serve((request) =>
 *   new URL(request.url).pathname === '/rolldice' ? roll(request) : new Response('Not Found', { status: 404 })
 * );
 * ```
 */
export function createHttpServerInstrumentation(
  options: Omit<InstrumentHandlerOptions, 'route'> = {},
): HttpServerInstrumentation {
  const core = new ServerCore(options);
  const activateContext = options.activateContext ?? true;

  return {
    instrument(handler, route) {
      const track = route === undefined;
      return (request, info) => {
        const record = core.start(request, info, route);
        if (track) records.set(request, record);
        let result: Response | Promise<Response>;
        try {
          const handlerInfo: ServerRequestInfo = { ...info, context: record.context };
          result = activateContext && !record.adopted
            ? context.with(record.context, handler, undefined, request, handlerInfo)
            : handler(request, handlerInfo);
        } catch (error) {
          return answer500(record, request, error);
        }
        return result instanceof Promise
          ? result.then((response) => record.finish(response), (error) => answer500(record, request, error))
          : record.finish(result);
      };
    },
  };
}

/** A throwing handler is the service's bug, not the client's: answer 500, keep serving. */
function answer500(record: RequestRecord, request: Request, error: unknown): Response {
  const errorType = record.fail(error, true);
  diag.error(`${httpSpanName(request.method, record.route)} failed: ${describeError(error)}`);
  const response = new Response('Internal Server Error\n', {
    status: 500,
    headers: { 'content-type': 'text/plain; charset=utf-8' },
  });
  return record.finish(response, errorType);
}
