/**
 * The Deno adapter: serves the dice service with `Deno.serve`. Started with `deno task start`.
 */
import { consoleOutput } from '../mod.ts';
import {
  badRequest,
  checkHost,
  createBadRequestLog,
  createGracefulShutdown,
  listeningUrl,
  startService,
} from '../src/service/mod.ts';

// Reads each variable on demand: `Deno.env.toObject()` would need access to the whole
// environment, where the start task grants only PORT, HOST, OTEL_* and ROLLDICE_*.
const env: Record<string, string | undefined> = new Proxy({}, {
  get: (_, name) => (typeof name === 'string' ? Deno.env.get(name) : undefined),
});

const service = startService({
  runtime: { name: 'deno', version: Deno.version.deno },
  env,
  output: consoleOutput,
  exit: (code) => Deno.exit(code),
});
const { port, hostname } = service.config;
const logBadRequest = createBadRequestLog((line) => console.error(line));

function serve(hostname: string): Deno.HttpServer<Deno.NetAddr> {
  return Deno.serve(
    {
      port,
      hostname,
      onListen: ({ port }) =>
        console.error(`rolldice: listening on ${listeningUrl(hostname, port)} (deno ${Deno.version.deno})`),
    },
    (request, info) => {
      // Deno hands on a request with no or an invalid Host, with a URL made of it; Deno.serve
      // has no read or idle timeouts to set (denoland/deno#3515, docs/reliability.md).
      const hostProblem = checkHost(request.headers.get('host'));
      if (hostProblem !== undefined) {
        logBadRequest(hostProblem);
        return badRequest(hostProblem);
      }
      return service.fetch(request, { clientAddress: info.remoteAddr.hostname, clientPort: info.remoteAddr.port });
    },
  );
}

let server: Deno.HttpServer<Deno.NetAddr>;
try {
  // No HOST: every interface, IPv6 and IPv4, or IPv4 alone on a machine without IPv6.
  server = hostname !== undefined ? serve(hostname) : serveAnywhere();
} catch (error) {
  const reason = error instanceof Deno.errors.AddrInUse ? 'the address is already in use' : String(error);
  console.error(`rolldice: cannot listen on ${hostname ?? '*'}:${port}: ${reason}`);
  Deno.exit(1);
}

function serveAnywhere(): Deno.HttpServer<Deno.NetAddr> {
  try {
    return serve('::');
  } catch (error) {
    if (error instanceof Deno.errors.AddrInUse) throw error;
    return serve('0.0.0.0');
  }
}

const onSignal = createGracefulShutdown({
  // Waits for the requests in flight; idle and half-sent connections do not hold it.
  stopServer: () => server.shutdown(),
  flushTimeoutMillis: service.config.telemetry.delivery.shutdownFlushMillis,
  shutdownTelemetry: () => service.telemetry.shutdown(),
  exit: (code) => Deno.exit(code),
  log: (message) => console.error(message),
});
Deno.addSignalListener('SIGINT', () => onSignal('SIGINT'));
Deno.addSignalListener('SIGTERM', () => onSignal('SIGTERM'));
