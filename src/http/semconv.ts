/** What the HTTP server and client instrumentations share from the semantic conventions. */

/** The bucket boundaries advised for `http.server.request.duration` and `http.client.request.duration`. */
export const HTTP_DURATION_BUCKETS_SECONDS = [
  0.005,
  0.01,
  0.025,
  0.05,
  0.075,
  0.1,
  0.25,
  0.5,
  0.75,
  1,
  2.5,
  5,
  7.5,
  10,
];

/** The methods `http.request.method` may name; any other is reported as `_OTHER`. */
export const KNOWN_HTTP_METHODS: ReadonlySet<string> = new Set([
  'CONNECT',
  'DELETE',
  'GET',
  'HEAD',
  'OPTIONS',
  'PATCH',
  'POST',
  'PUT',
  'QUERY',
  'TRACE',
]);

/**
 * The name of an HTTP server span: `{method} {route}`, `{method}` without a route, and `HTTP`
 * in place of a method the conventions do not know.
 */
export function httpSpanName(method: string, route: string | undefined): string {
  const shown = KNOWN_HTTP_METHODS.has(method) ? method : 'HTTP';
  return route === undefined ? shown : `${shown} ${route}`;
}

/**
 * A peer address as `client.address` and `network.peer.address` want it: an IPv4-mapped IPv6
 * address (`::ffff:127.0.0.1`, what Node reports on a dual-stack socket) as the plain IPv4
 * address it stands for, so that the same client reads the same on every runtime.
 */
export function plainAddress(address: string): string {
  return address.length > 7 && address.charCodeAt(0) === 58 /* : */ && /^::ffff:\d+\.\d+\.\d+\.\d+$/i.test(address)
    ? address.slice(7)
    : address;
}

/** The size a `content-length` header gives, or undefined when it is absent or not a size. */
export function contentLength(headers: Headers): number | undefined {
  const value = headers.get('content-length');
  if (value === null || !/^\d{1,15}$/.test(value)) return undefined;
  return Number(value);
}
