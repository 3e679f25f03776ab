import {
  type Attributes,
  type Context,
  context,
  type MeterProvider,
  metrics,
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  SpanStatusCode,
  type TextMapGetter,
  type TextMapPropagator,
  trace,
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
  METRIC_HTTP_SERVER_REQUEST_DURATION,
} from '@opentelemetry/semantic-conventions';
import { parseRequestTarget } from '../url.ts';
import { HTTP_DURATION_BUCKETS_SECONDS, KNOWN_HTTP_METHODS } from './semconv.ts';
import { VERSION } from '../version.ts';

/** What the server knows about a request beyond the `Request` itself. */
export interface ServerRequestInfo {
  /** The peer's IP address, e.g. `127.0.0.1`. */
  clientAddress?: string;
  clientPort?: number;
  /** The HTTP version, e.g. `1.1`, when the runtime tells it. */
  protocolVersion?: string;
  /**
   * Set by the server instrumentation for the handler it wraps: the request's context (its
   * SERVER span, the incoming baggage), for handlers that pass it on explicitly, e.g.
   * `tracer.startSpan(name, options, info.context)` or `logger.emit({ ..., context })`.
   */
  context?: Context;
}

/** Any web-standard request handler: the shape `Deno.serve` and `Bun.serve` call. */
export type FetchHandler = (request: Request, info?: ServerRequestInfo) => Response | Promise<Response>;

export interface InstrumentHandlerOptions {
  /** The route template the handler serves, e.g. `/rolldice/{player}`; the span's name and `http.route`. */
  route?: string;
  /** @default the global tracer provider */
  tracerProvider?: TracerProvider;
  /** @default the global meter provider */
  meterProvider?: MeterProvider;
  /** Extracts the incoming context. @default the global propagator */
  propagator?: TextMapPropagator;
  /**
   * Whether the handler runs with its SERVER span as the active context (`context.with`), so
   * that `context.active()` and `startActiveSpan` inside it see the span, across `await` too.
   * `false` skips that for handlers that take `info.context` and pass it on themselves: the
   * context manager's AsyncLocalStorage costs CPU and garbage-collection time on every
   * request (most on Deno: see the README's benchmark). @default true
   */
  activateContext?: boolean;
}

/** Instruments many handlers with one tracer and one `http.server.request.duration` histogram. */
export interface HttpServerInstrumentation {
  instrument(handler: FetchHandler, route?: string): FetchHandler;
}

/** The instrumentation scope of the server spans and metrics. */
export const HTTP_SERVER_SCOPE = 'rolldice/http-server';

const headersGetter: TextMapGetter<Headers> = {
  keys: (headers) => [...headers.keys()],
  get: (headers, key) => headers.get(key) ?? undefined,
};

/**
 * Creates the HTTP server instrumentation (this project's `otelhttp`): for every request,
 * a SERVER span named `{method} {route}` with the stable HTTP semantic conventions, the
 * incoming W3C context as parent, and a point on `http.server.request.duration`.
 */
export function createHttpServerInstrumentation(
  options: Omit<InstrumentHandlerOptions, 'route'> = {},
): HttpServerInstrumentation {
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(HTTP_SERVER_SCOPE, VERSION);
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(HTTP_SERVER_SCOPE, VERSION);
  const propagator = options.propagator;
  const activateContext = options.activateContext ?? true;
  const duration = meter.createHistogram(METRIC_HTTP_SERVER_REQUEST_DURATION, {
    description: 'Duration of HTTP server requests.',
    unit: 's',
    advice: { explicitBucketBoundaries: HTTP_DURATION_BUCKETS_SECONDS },
  });

  return {
    instrument(handler, route) {
      return (request, info) => {
        const started = performance.now();
        const target = parseRequestTarget(request.url);
        const known = KNOWN_HTTP_METHODS.has(request.method);
        const method = known ? request.method : '_OTHER';
        const spanName = `${known ? method : 'HTTP'}${route === undefined ? '' : ` ${route}`}`;

        const attributes: Attributes = {
          [ATTR_HTTP_REQUEST_METHOD]: method,
          [ATTR_URL_SCHEME]: target.scheme,
          [ATTR_URL_PATH]: target.path,
          [ATTR_SERVER_ADDRESS]: target.host,
          [ATTR_SERVER_PORT]: target.port,
        };
        if (!known) attributes[ATTR_HTTP_REQUEST_METHOD_ORIGINAL] = request.method;
        if (target.query) attributes[ATTR_URL_QUERY] = target.query;
        if (route !== undefined) attributes[ATTR_HTTP_ROUTE] = route;
        const userAgent = request.headers.get('user-agent');
        if (userAgent !== null) attributes[ATTR_USER_AGENT_ORIGINAL] = userAgent;
        if (info?.protocolVersion) attributes[ATTR_NETWORK_PROTOCOL_VERSION] = info.protocolVersion;
        if (info?.clientAddress) {
          attributes[ATTR_CLIENT_ADDRESS] = info.clientAddress;
          attributes[ATTR_NETWORK_PEER_ADDRESS] = info.clientAddress;
          if (info.clientPort !== undefined) attributes[ATTR_NETWORK_PEER_PORT] = info.clientPort;
        }

        const parent = (propagator ?? propagation).extract(ROOT_CONTEXT, request.headers, headersGetter);
        const span = tracer.startSpan(spanName, { kind: SpanKind.SERVER, attributes }, parent);
        const spanContext = trace.setSpan(parent, span);

        const finish = (response: Response, thrown?: string): Response => {
          const status = response.status;
          let errorType = thrown;
          span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
          if (status >= 500 && errorType === undefined) {
            errorType = String(status);
            span.setStatus({ code: SpanStatusCode.ERROR });
          }
          if (errorType !== undefined) span.setAttribute(ATTR_ERROR_TYPE, errorType);
          span.end();

          const metricAttributes: Attributes = {
            [ATTR_HTTP_REQUEST_METHOD]: method,
            [ATTR_URL_SCHEME]: target.scheme,
            [ATTR_HTTP_RESPONSE_STATUS_CODE]: status,
          };
          if (route !== undefined) metricAttributes[ATTR_HTTP_ROUTE] = route;
          if (info?.protocolVersion) metricAttributes[ATTR_NETWORK_PROTOCOL_VERSION] = info.protocolVersion;
          if (errorType !== undefined) metricAttributes[ATTR_ERROR_TYPE] = errorType;
          duration.record((performance.now() - started) / 1000, metricAttributes, spanContext);
          return response;
        };
        const fail = (error: unknown): Response => {
          // A throwing handler is the service's bug, not the client's: answer 500, keep serving.
          span.recordException(error instanceof Error ? error : String(error));
          span.setStatus({
            code: SpanStatusCode.ERROR,
            message: error instanceof Error ? error.message : String(error),
          });
          console.error(`rolldice: ${spanName} failed:`, error);
          const response = new Response('Internal Server Error\n', {
            status: 500,
            headers: { 'content-type': 'text/plain; charset=utf-8' },
          });
          return finish(response, error instanceof Error ? error.name || 'Error' : '_OTHER');
        };

        // Not awaited when the handler answers at once: the span ends and the response goes
        // out in the same tick, without a promise (and an AsyncLocalStorage frame) per layer.
        let result: Response | Promise<Response>;
        try {
          const handlerInfo: ServerRequestInfo = { ...info, context: spanContext };
          result = activateContext
            ? context.with(spanContext, handler, undefined, request, handlerInfo)
            : handler(request, handlerInfo);
        } catch (error) {
          return fail(error);
        }
        return result instanceof Promise ? result.then((response) => finish(response), fail) : finish(result);
      };
    },
  };
}

/**
 * Wraps one handler with the HTTP server instrumentation.
 *
 * @example
 * ```ts
 * Deno.serve(instrumentHandler((request) => new Response('hi'), { route: '/' }));
 * ```
 */
export function instrumentHandler(handler: FetchHandler, options: InstrumentHandlerOptions = {}): FetchHandler {
  return createHttpServerInstrumentation(options).instrument(handler, options.route);
}
