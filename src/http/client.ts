import {
  type Attributes,
  context,
  diag,
  type MeterProvider,
  metrics,
  propagation,
  SpanKind,
  SpanStatusCode,
  type TextMapPropagator,
  trace,
  type TracerProvider,
} from '@opentelemetry/api';
import { isTracingSuppressed, suppressTracing } from '@opentelemetry/core';
import {
  ATTR_ERROR_TYPE,
  ATTR_HTTP_REQUEST_METHOD,
  ATTR_HTTP_REQUEST_METHOD_ORIGINAL,
  ATTR_HTTP_RESPONSE_STATUS_CODE,
  ATTR_SERVER_ADDRESS,
  ATTR_SERVER_PORT,
  ATTR_URL_FULL,
  ATTR_URL_SCHEME,
  ERROR_TYPE_VALUE_OTHER,
  METRIC_HTTP_CLIENT_REQUEST_DURATION,
} from '@opentelemetry/semantic-conventions';
import { headersSetter } from '../w3c/propagation.ts';
import { HTTP_DURATION_BUCKETS_SECONDS, KNOWN_HTTP_METHODS } from './semconv.ts';
import { PACKAGE_NAME, VERSION } from '../version.ts';
import { defaultPort, redactUrl } from '../url.ts';
import { denoTracesRequests } from '../runtime.ts';

/** The instrumentation scope of the client spans and metrics: this package. */
export const HTTP_CLIENT_SCOPE: typeof PACKAGE_NAME = PACKAGE_NAME;

/**
 * Which URLs an option applies to: a string matches the URLs that start with it, a regular
 * expression those it matches (`url.href` either way), as in `@vercel/otel`.
 */
export type UrlMatcher = string | RegExp;

/** Options of {@link createInstrumentedFetch} and {@link instrumentGlobalFetch}. */
export interface InstrumentedFetchOptions {
  /** Where the CLIENT spans are made. @default the global tracer provider, as `registerOTel()` installs it */
  tracerProvider?: TracerProvider;
  /** Where `http.client.request.duration` is recorded. @default the global meter provider */
  meterProvider?: MeterProvider;
  /** Injects the active context into each request's headers. @default the global propagator */
  propagator?: TextMapPropagator;
  /** The fetch that sends the requests. @default globalThis.fetch at the time of the call */
  fetch?: typeof fetch;
  /**
   * The URLs whose requests carry the context (`traceparent`, `tracestate`, `baggage`). Every
   * URL by default, as the official server-side instrumentations (http, undici) do; but the
   * headers then reach third parties too, baggage included: list your own services here to
   * keep them inside. @default every URL
   */
  propagateContextUrls?: readonly UrlMatcher[];
  /** URLs that never carry the context, even when {@link propagateContextUrls} lists them. @default none */
  dontPropagateContextUrls?: readonly UrlMatcher[];
  /**
   * URLs left alone entirely: no CLIENT span, no duration point, no context in the headers;
   * the request goes out exactly as given. @default none
   */
  ignoreUrls?: readonly UrlMatcher[];
}

function matchesAny(href: string, matchers: readonly UrlMatcher[]): boolean {
  for (const matcher of matchers) {
    if (typeof matcher === 'string' ? href.startsWith(matcher) : matcher.test(href)) return true;
  }
  return false;
}

// The methods fetch upper-cases (Fetch standard, "normalize a method"); others go out as given.
const NORMALIZED_METHODS = new Set(['DELETE', 'GET', 'HEAD', 'OPTIONS', 'POST', 'PUT']);

const INSTRUMENTED = Symbol.for('rolldice.instrumentedFetch');

function requestUrl(input: RequestInfo | URL): URL | undefined {
  const href = input instanceof URL ? input.href : typeof input === 'string' ? input : input.url;
  try {
    return new URL(href);
  } catch {
    return undefined;
  }
}

function errorType(error: unknown): string {
  return error instanceof Error && error.name ? error.name : ERROR_TYPE_VALUE_OTHER;
}

/**
 * Creates a `fetch` that traces and measures every request it sends, for calls to other
 * services; the global `fetch` stays as it is ({@link instrumentGlobalFetch} replaces it).
 * Each request gets a CLIENT span named after its method, e.g. `GET`, a child of the active
 * span (inside an {@link instrument}ed handler, the request's SERVER span), with the stable
 * HTTP client semantic conventions (`url.full` with credentials and signatures redacted), and
 * a point on `http.client.request.duration`. Its headers carry the active context
 * (`traceparent`, `tracestate`, `baggage`) to every URL unless `propagateContextUrls` says
 * otherwise, so the service called continues the trace.
 *
 * The span ends when the response headers arrive, or when the request fails or is aborted; a
 * 4xx or 5xx answer marks it as an error. It wraps a fetch, it does not patch one: the
 * caller's `Request` and `Headers` are never modified. Requests made while tracing is
 * suppressed (as the OTLP exporters do) pass through untouched, and so does every request
 * where Deno's built-in OpenTelemetry (`OTEL_DENO=true`) already traces `fetch`. Create it
 * after `registerOTel()`: its meter is looked up once, when it is created.
 *
 * @example
 * ```ts
 * import { createInstrumentedFetch, instrument, registerOTel } from '@rolldice/otel';
 *
 * registerOTel({ serviceName: 'frontend' });
 * const tracedFetch = createInstrumentedFetch({ propagateContextUrls: ['http://dice.internal:8080/'] });
 * Deno.serve(instrument(async () => {
 *   const roll = await tracedFetch('http://dice.internal:8080/rolldice/Alice');
 *   return new Response(await roll.text());
 * }));
 * ```
 */
export function createInstrumentedFetch(options: InstrumentedFetchOptions = {}): typeof fetch {
  const tracer = (options.tracerProvider ?? trace.getTracerProvider()).getTracer(HTTP_CLIENT_SCOPE, VERSION);
  const meter = (options.meterProvider ?? metrics.getMeterProvider()).getMeter(HTTP_CLIENT_SCOPE, VERSION);
  const propagator = options.propagator ?? propagation;
  const send: (input: RequestInfo | URL, init?: RequestInit) => Promise<Response> = options.fetch ??
    ((input, init) => globalThis.fetch(input, init));
  const duration = meter.createHistogram(METRIC_HTTP_CLIENT_REQUEST_DURATION, {
    description: 'Duration of HTTP client requests.',
    unit: 's',
    advice: { explicitBucketBoundaries: HTTP_DURATION_BUCKETS_SECONDS },
  });

  const { propagateContextUrls, dontPropagateContextUrls = [], ignoreUrls = [] } = options;
  // Deno's built-in telemetry makes its own CLIENT span for every fetch: a second one would be a lie.
  const runtimeTraces = denoTracesRequests();

  const instrumented = async (input: RequestInfo | URL, init?: RequestInit): Promise<Response> => {
    const parent = context.active();
    const url = runtimeTraces ? undefined : requestUrl(input);
    // Without a URL there is nothing to describe: the runtime's fetch rejects as it would.
    if (url === undefined || isTracingSuppressed(parent) || matchesAny(url.href, ignoreUrls)) {
      return send(input, init);
    }

    const started = performance.now();
    const given = init?.method ?? (input instanceof Request ? input.method : 'GET');
    const sent = NORMALIZED_METHODS.has(given.toUpperCase()) ? given.toUpperCase() : given;
    const known = KNOWN_HTTP_METHODS.has(sent);
    const method = known ? sent : '_OTHER';
    const port = url.port === '' ? defaultPort(url.protocol) : Number(url.port);
    const host = url.hostname.startsWith('[') ? url.hostname.slice(1, -1) : url.hostname;
    const attributes: Attributes = {
      [ATTR_HTTP_REQUEST_METHOD]: method,
      [ATTR_SERVER_ADDRESS]: host,
      [ATTR_SERVER_PORT]: port,
      [ATTR_URL_FULL]: redactUrl(url),
    };
    if (!known) attributes[ATTR_HTTP_REQUEST_METHOD_ORIGINAL] = sent;
    const span = tracer.startSpan(known ? method : 'HTTP', { kind: SpanKind.CLIENT, attributes }, parent);
    const active = trace.setSpan(parent, span);

    const propagate = (propagateContextUrls === undefined || matchesAny(url.href, propagateContextUrls)) &&
      !matchesAny(url.href, dontPropagateContextUrls);
    // A copy of the headers the request would have sent, with the context added: the
    // caller's Headers and Request stay as they were.
    let sentInit = init;
    if (propagate) {
      const headers = new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined));
      propagator.inject(active, headers, headersSetter);
      sentInit = { ...init, headers };
    }

    const metricAttributes: Attributes = {
      [ATTR_HTTP_REQUEST_METHOD]: method,
      [ATTR_SERVER_ADDRESS]: host,
      [ATTR_SERVER_PORT]: port,
      [ATTR_URL_SCHEME]: url.protocol.slice(0, -1),
    };
    try {
      // Suppressed inside, so that a fetch which is itself instrumented (the global one after
      // instrumentGlobalFetch(), say) adds no second span for the same call.
      const response = await context.with(suppressTracing(active), () => send(input, sentInit));
      const status = response.status;
      span.setAttribute(ATTR_HTTP_RESPONSE_STATUS_CODE, status);
      metricAttributes[ATTR_HTTP_RESPONSE_STATUS_CODE] = status;
      // For a client, the server refusing (4xx) is as much a failure as it failing (5xx).
      if (status >= 400) {
        span.setAttribute(ATTR_ERROR_TYPE, String(status));
        span.setStatus({ code: SpanStatusCode.ERROR });
        metricAttributes[ATTR_ERROR_TYPE] = String(status);
      }
      return response;
    } catch (error) {
      const type = errorType(error);
      span.setAttribute(ATTR_ERROR_TYPE, type);
      span.recordException(error instanceof Error ? error : String(error));
      span.setStatus({ code: SpanStatusCode.ERROR, message: error instanceof Error ? error.message : String(error) });
      metricAttributes[ATTR_ERROR_TYPE] = type;
      throw error;
    } finally {
      span.end();
      duration.record((performance.now() - started) / 1000, metricAttributes);
    }
  };
  // Keep what the runtime hangs on its fetch (Bun's `fetch.preconnect`).
  Object.assign(instrumented, options.fetch ?? globalThis.fetch);
  Object.defineProperty(instrumented, INSTRUMENTED, { value: true });
  return instrumented as typeof fetch;
}

/**
 * Replaces `globalThis.fetch` with an instrumented one (see {@link createInstrumentedFetch}),
 * for code that calls the global fetch directly, libraries included. Opt-in, and undone by the
 * function it returns; a second call while installed changes nothing.
 *
 * @example
 * ```ts
 * import { instrumentGlobalFetch, registerOTel } from '@rolldice/otel';
 *
 * registerOTel({ serviceName: 'frontend' });
 * const uninstall = instrumentGlobalFetch({ propagateContextUrls: ['http://dice.internal:8080/'] });
 * await fetch('http://dice.internal:8080/rolldice/Alice'); // a CLIENT span, the context in its headers
 * uninstall();
 * ```
 */
export function instrumentGlobalFetch(options: Omit<InstrumentedFetchOptions, 'fetch'> = {}): () => void {
  const original = globalThis.fetch;
  if ((original as unknown as Record<symbol, unknown>)[INSTRUMENTED]) {
    diag.warn('globalThis.fetch is already instrumented; leaving it as it is');
    return () => {};
  }
  const instrumented = createInstrumentedFetch({ ...options, fetch: original });
  globalThis.fetch = instrumented;
  return () => {
    // Only if nobody replaced it since, so as not to drop their wrapper.
    if (globalThis.fetch === instrumented) globalThis.fetch = original;
  };
}
