/**
 * What the adapters answer, at once, to a request they cannot serve: a `Host` that names no
 * host, or nothing at all. RFC 9112 §3.2: a server MUST answer 400 to a request whose `Host` is
 * missing or invalid; the three runtimes' servers each let some through (Deno and Bun hand the
 * handler a URL built from it, Node's parser leaves it to @hono/node-server, which throws).
 */

// RFC 9110 §7.2 `Host = uri-host [ ":" port ]`, uri-host from RFC 3986: an IP-literal, or a
// reg-name (which covers IPv4 addresses) of unreserved characters, sub-delims and %-escapes.
const HOST = /^(?:\[[0-9A-Fa-f:.]+\]|(?:[A-Za-z0-9\-._~!$&'()*+,;=]|%[0-9A-Fa-f]{2})+)(?::([0-9]{0,5}))?$/;

/** Why `host` (the `Host` header's value, or null) cannot name this server; undefined when it can. */
export function checkHost(host: string | null): string | undefined {
  if (host === null || host === '') return 'no Host header';
  const match = HOST.exec(host);
  if (match === null) return 'an invalid Host header';
  if (match[1] !== undefined && match[1] !== '' && Number(match[1]) > 65_535) return 'an invalid Host port';
  return undefined;
}

/** The answer to a request the service cannot serve: 400, a short text, and the connection closed. */
export function badRequest(reason: string): Response {
  return new Response(`Bad Request: ${reason}\n`, {
    status: 400,
    headers: { 'content-type': 'text/plain; charset=utf-8', connection: 'close' },
  });
}

/**
 * One line per answer and cause of a bad request, `log` at most once per `intervalMillis` for
 * each, with how many were left unsaid since: a client that sends thousands must not flood
 * the log. No stack: the request was bad, not the service.
 */
export function createBadRequestLog(
  log: (line: string) => void,
  intervalMillis = 60_000,
  now: () => number = () => performance.now(),
): (cause: string, status?: number) => void {
  const causes = new Map<string, { loggedAt: number; unsaid: number }>();
  return (cause, status = 400) => {
    const line = `rolldice: answered ${status} to a request with ${cause}`;
    const seen = causes.get(line);
    const at = now();
    if (seen !== undefined && at - seen.loggedAt < intervalMillis) {
      seen.unsaid++;
      return;
    }
    const more = seen?.unsaid ? ` (and ${seen.unsaid} more since the last such line)` : '';
    // Bounded: the causes are a handful of fixed phrases.
    causes.set(line, { loggedAt: at, unsaid: 0 });
    log(`${line}${more}`);
  };
}
