/**
 * The Bun adapter: serves the dice service with `Bun.serve`. Started with `bun run start`.
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

const service = startService({
  runtime: { name: 'bun', version: Bun.version },
  env: Bun.env,
  output: consoleOutput,
  exit: (code) => process.exit(code),
});
const { port, hostname } = service.config;
const logBadRequest = createBadRequestLog((line) => console.error(line));

function serve(hostname: string): ReturnType<typeof Bun.serve> {
  return Bun.serve({
    port,
    hostname,
    // Bun's one server timeout, for connections idle between requests (a request that is still
    // arriving is closed after Bun's own 10 s, whatever this says): 65 s, longer than the 60 s
    // after which common proxies close theirs, so that the proxy closes first
    // (docs/reliability.md).
    idleTimeout: 65,
    fetch(request, server) {
      // Bun hands on a request with no or an invalid Host, with a URL made of it.
      const hostProblem = checkHost(request.headers.get('host'));
      if (hostProblem !== undefined) {
        logBadRequest(hostProblem);
        return badRequest(hostProblem);
      }
      const address = server.requestIP(request);
      return service.fetch(request, { clientAddress: address?.address, clientPort: address?.port });
    },
  });
}

let server: ReturnType<typeof Bun.serve>;
try {
  // No HOST: every interface, IPv6 and IPv4, or IPv4 alone on a machine without IPv6.
  server = hostname !== undefined ? serve(hostname) : serveAnywhere();
} catch (error) {
  const code = (error as { code?: string }).code;
  const reason = code === 'EADDRINUSE' ? 'the address is already in use' : String(error);
  console.error(`rolldice: cannot listen on ${hostname ?? '*'}:${port}: ${reason}`);
  process.exit(1);
}
console.error(`rolldice: listening on ${listeningUrl(hostname, server.port!)} (bun ${Bun.version})`);

function serveAnywhere(): ReturnType<typeof Bun.serve> {
  try {
    return serve('::');
  } catch (error) {
    if ((error as { code?: string }).code === 'EADDRINUSE') throw error;
    return serve('0.0.0.0');
  }
}

/**
 * Stops accepting, waits for the requests in flight, then closes every connection left: idle
 * keep-alive ones and requests still arriving, which stop() alone would wait for.
 */
async function stopServer(): Promise<void> {
  const stopped = server.stop();
  while (server.pendingRequests > 0) await new Promise((resolve) => setTimeout(resolve, 20));
  await server.stop(true);
  await stopped;
}

const onSignal = createGracefulShutdown({
  stopServer,
  flushTimeoutMillis: service.config.telemetry.delivery.shutdownFlushMillis,
  shutdownTelemetry: () => service.telemetry.shutdown(),
  // Exit once what was printed has reached stdout (a pipe may still hold some).
  exit: (code) => process.stdout.write('', () => process.exit(code)),
  log: (message) => console.error(message),
});
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
