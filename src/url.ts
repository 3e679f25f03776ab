/** The parts of an absolute request URL that routing and telemetry need. */
export interface RequestTarget {
  /** `http` or `https`. */
  scheme: string;
  /** Host name without brackets around IPv6 literals. */
  host: string;
  /** The port, or the scheme's default (80, 443) when the URL has none. */
  port: number;
  /** As sent, still percent-encoded. */
  path: string;
  /** Without the `?`; empty when absent. */
  query: string;
  /** `path` split at `/`, still percent-encoded: `['', 'rolldice', 'Alice']`. */
  segments: readonly string[];
}

const DEFAULT_PORTS: Record<string, number> = { http: 80, https: 443 };

/** The port a URL scheme implies (`http` or `http:`): 80, 443, or 0 when none is known. */
export function defaultPort(scheme: string): number {
  return DEFAULT_PORTS[scheme.endsWith(':') ? scheme.slice(0, -1) : scheme] ?? 0;
}

/**
 * Splits `request.url` into the parts routing and telemetry need. Runtimes hand `Request`s an
 * absolute, already-normalised URL, so a few `indexOf`s do the work of `new URL()`; the last
 * answer is remembered, so a router and the instrumentation asking in turn parse it once.
 *
 * @example
 * ```ts
 * import { parseRequestTarget } from '@rolldice/otel';
 *
 * const { path, query, segments } = parseRequestTarget('http://localhost:8080/rolldice/Alice?rolls=2');
 * // path '/rolldice/Alice', query 'rolls=2', segments ['', 'rolldice', 'Alice']
 * ```
 */
export function parseRequestTarget(url: string): RequestTarget {
  // The router, the server instrumentation and the route's dispatcher all ask for the same
  // request's target in turn: remembering the last answer makes that one parse, not three.
  if (url === lastUrl) return lastTarget;
  lastTarget = Object.freeze(parse(url));
  lastUrl = url;
  return lastTarget;
}

let lastUrl: string | undefined;
let lastTarget: RequestTarget;

function parse(url: string): RequestTarget {
  const schemeEnd = url.indexOf('://');
  const scheme = url.slice(0, schemeEnd).toLowerCase();
  const authorityStart = schemeEnd + 3;
  let authorityEnd = authorityStart;
  while (authorityEnd < url.length && !'/?#'.includes(url[authorityEnd]!)) authorityEnd++;
  const hashStart = url.indexOf('#', authorityEnd);
  const end = hashStart >= 0 ? hashStart : url.length;
  const queryStart = url.indexOf('?', authorityEnd);
  const pathEnd = queryStart >= 0 && queryStart < end ? queryStart : end;

  let authority = url.slice(authorityStart, authorityEnd);
  const at = authority.lastIndexOf('@');
  if (at >= 0) authority = authority.slice(at + 1);
  let host = authority;
  let port = defaultPort(scheme);
  const bracket = authority.lastIndexOf(']');
  const colon = authority.lastIndexOf(':');
  if (colon > bracket) {
    host = authority.slice(0, colon);
    port = Number(authority.slice(colon + 1)) || port;
  }
  if (host.startsWith('[')) host = host.slice(1, -1);

  const path = url.slice(authorityEnd, pathEnd) || '/';
  return {
    scheme,
    host,
    port,
    path,
    query: pathEnd < end ? url.slice(pathEnd + 1, end) : '',
    segments: path.split('/'),
  };
}

// Query keys whose values the semantic conventions ask to redact in url.full and url.query.
const SENSITIVE_QUERY_KEYS = new Set([
  'X-Amz-Signature',
  'X-Amz-Credential',
  'X-Amz-Security-Token',
  'AWSAccessKeyId',
  'Signature',
  'sig',
  'X-Goog-Signature',
]);

/**
 * `url.full` as the semantic conventions want it: credentials replaced by `REDACTED:REDACTED`
 * and the values of known signature query keys by `REDACTED`.
 *
 * @example
 * ```ts
 * import { redactUrl } from '@rolldice/otel';
 *
 * redactUrl(new URL('https://user:pw@bucket.example/key?X-Amz-Signature=abc&v=1'));
 * // 'https://REDACTED:REDACTED@bucket.example/key?X-Amz-Signature=REDACTED&v=1'
 * ```
 */
export function redactUrl(url: URL): string {
  const redacted = new URL(url.href);
  if (redacted.username !== '' || redacted.password !== '') {
    redacted.username = 'REDACTED';
    redacted.password = 'REDACTED';
  }
  if (redacted.search.length > 1) redacted.search = redactQuery(redacted.search.slice(1));
  return redacted.href;
}

/**
 * A query string (without `?`) as `url.query` wants it: the values of known signature keys
 * replaced by `REDACTED`, every other pair as it was. Keys match case-sensitively, as the
 * semantic conventions ask.
 *
 * @example
 * ```ts
 * import { redactQuery } from '@rolldice/otel';
 *
 * redactQuery('sig=abc&page=2'); // 'sig=REDACTED&page=2'
 * ```
 */
export function redactQuery(query: string): string {
  // By hand rather than with URLSearchParams, which would re-encode every other value.
  return query.split('&').map((pair) => {
    const equals = pair.indexOf('=');
    const key = equals < 0 ? pair : pair.slice(0, equals);
    return SENSITIVE_QUERY_KEYS.has(key) ? `${key}=REDACTED` : pair;
  }).join('&');
}
