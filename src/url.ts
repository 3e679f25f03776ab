/** The parts of an absolute request URL that routing and telemetry need. */
export interface RequestTarget {
  /** `http` or `https`. */
  scheme: string;
  /** Host name without brackets around IPv6 literals. */
  host: string;
  port: number;
  /** As sent, still percent-encoded. */
  path: string;
  /** Without the `?`; empty when absent. */
  query: string;
  /** `path` split at `/`, still percent-encoded: `['', 'rolldice', 'Alice']`. */
  segments: readonly string[];
}

const DEFAULT_PORTS: Record<string, number> = { http: 80, https: 443 };

/**
 * Splits `request.url`. Runtimes hand `Request`s an absolute, already-normalised URL, so
 * a few `indexOf`s do the work of `new URL()`, which would be parsed twice per request.
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
  let port = DEFAULT_PORTS[scheme] ?? 0;
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
