import {
  type FetchHandler,
  type HttpServerInstrumentation,
  parseRequestTarget,
  type ServerRequestInfo,
} from '../../mod.ts';

/** What a route's handler receives besides the request: the decoded `{param}` values in order. */
export interface RouteRequestInfo extends ServerRequestInfo {
  params: string[];
}

export interface Route {
  /** A path template of literal segments and `{name}` segments, e.g. `/rolldice/{player}`. */
  pattern: string;
  /** The methods served; `HEAD` is served by `GET` without the body, `OPTIONS` by the router. */
  methods: readonly string[];
  handle(request: Request, info: RouteRequestInfo): Response | Promise<Response>;
}

interface CompiledRoute {
  segments: (string | null)[]; // null stands for a parameter
  handler: FetchHandler;
}

const TEXT_PLAIN = { 'content-type': 'text/plain; charset=utf-8' };

/** The body sizes of the answers {@link textResponse} made, for the server instrumentation. */
const textBodySizes = new WeakMap<Response, number>();

/**
 * A short plain-text answer, e.g. `textResponse(404, 'Not Found')`, with its `Content-Length`;
 * the body stays a string, which Node writes with the head in one system call.
 */
export function textResponse(status: number, text: string, headers: Record<string, string> = {}): Response {
  const body = `${text}\n`;
  const size = utf8Length(body);
  const response = new Response(body, {
    status,
    headers: { ...TEXT_PLAIN, 'content-length': String(size), ...headers },
  });
  textBodySizes.set(response, size);
  return response;
}

/** The body size of an answer {@link textResponse} made, without reading its headers. */
export const textBodySize = (response: Response): number | undefined => textBodySizes.get(response);

// By hand: the web platform measures UTF-8 only by encoding, an allocation per answer.
function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    if (code < 0x80) continue;
    // Two bytes more than its one unit; a surrogate pair's 4 bytes are its two units plus these.
    bytes += code < 0x800 ? 1 : 2;
    const next = text.charCodeAt(i + 1); // NaN past the end
    if (code >= 0xd800 && code <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) i++;
  }
  return bytes;
}

const identity: HttpServerInstrumentation = { instrument: (handler) => handler };

/**
 * Routes requests by path to handlers, each wrapped in the server instrumentation with its
 * route template known before the span starts (so `http.route` is there for samplers).
 * Unknown paths get `404`, other methods `405` with `Allow`, a malformed percent-encoding
 * in a parameter `400`.
 */
export function createRouter(
  routes: readonly Route[],
  instrumentation: HttpServerInstrumentation = identity,
): FetchHandler {
  const compiled: CompiledRoute[] = routes.map((route) => ({
    segments: route.pattern.split('/').map((s) => (s.startsWith('{') && s.endsWith('}') ? null : s)),
    handler: instrumentation.instrument(dispatchTo(route), route.pattern),
  }));
  const notFound = instrumentation.instrument(() => textResponse(404, 'Not Found'));

  return (request, info) => {
    const { segments } = parseRequestTarget(request.url);
    for (const route of compiled) {
      if (matches(route.segments, segments)) return route.handler(request, info);
    }
    return notFound(request, info);
  };
}

function matches(pattern: (string | null)[], segments: readonly string[]): boolean {
  if (pattern.length !== segments.length) return false;
  for (let i = 0; i < pattern.length; i++) {
    const expected = pattern[i];
    if (expected === null ? segments[i] === '' : expected !== segments[i]) return false;
  }
  return true;
}

function withoutBody(response: Response): Response {
  const answer = new Response(null, { status: response.status, headers: response.headers });
  textBodySizes.set(answer, 0); // its Content-Length is the GET answer's; no body is sent
  return answer;
}

function dispatchTo(route: Route): FetchHandler {
  const paramIndexes = route.pattern.split('/').flatMap((s, i) => (s.startsWith('{') ? [i] : []));
  const allow = [...new Set([...route.methods, ...(route.methods.includes('GET') ? ['HEAD'] : []), 'OPTIONS'])].join(
    ', ',
  );

  // Not `async`: a handler that answers at once (a local roll) is passed on as it is, and the
  // server instrumentation then ends its span without waiting for a microtask.
  return (request, info) => {
    const method = request.method;
    if (method === 'OPTIONS') return new Response(null, { status: 204, headers: { allow } });
    const head = method === 'HEAD' && route.methods.includes('GET');
    if (!head && !route.methods.includes(method)) {
      return textResponse(405, 'Method Not Allowed', { allow });
    }
    let params: string[] = [];
    if (paramIndexes.length > 0) {
      const { segments } = parseRequestTarget(request.url);
      try {
        params = paramIndexes.map((i) => decodeURIComponent(segments[i]!));
      } catch {
        return textResponse(400, 'Bad Request: malformed percent-encoding in the path');
      }
    }
    const response = route.handle(request, { ...info, params });
    if (!head) return response;
    // A HEAD answer is the GET answer without its body.
    return response instanceof Promise ? response.then(withoutBody) : withoutBody(response);
  };
}
