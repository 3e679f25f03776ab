/**
 * The Node.js adapter: serves the dice service with `node:http`. Built to `dist/node.js`
 * (`npm run build`) and started with `npm start` or `node dist/node.js`.
 */
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import process from 'node:process';
import { getRequestListener } from '@hono/node-server';
import { consoleOutput, TelemetryConflictError } from '../mod.ts';
import { createGracefulShutdown, listeningUrl, type Service, startService } from '../src/service/mod.ts';

let service: Service;
try {
  service = startService({
    runtime: { name: 'node', version: process.versions.node },
    env: process.env,
    output: consoleOutput,
    exit: (code) => process.exit(code),
    streamRequestBodies: true,
  });
} catch (error) {
  // The runtime's own OpenTelemetry (or another SDK) already owns the API's globals.
  if (!(error instanceof TelemetryConflictError)) throw error;
  console.error(`rolldice: cannot start: ${error.message}`);
  process.exit(1);
}
const { port, hostname } = service.config;

const server = createServer(
  {
    // The seed's timeouts: 1 s to read a request; 10 s of inactivity while answering.
    requestTimeout: 1_000,
    headersTimeout: 1_000,
    connectionsCheckingInterval: 250,
  },
  // @hono/node-server turns node:http messages into fetch Requests and Responses the cheap way.
  getRequestListener(
    (request, { incoming }) =>
      service.fetch(request, {
        clientAddress: incoming.socket.remoteAddress,
        clientPort: incoming.socket.remotePort,
        protocolVersion: incoming.httpVersion,
      }),
    {
      // Nothing escapes the listener: the library answers 500, or drops a half-sent response.
      errorHandler: (error) => console.error('rolldice: cannot answer a request:', error),
    },
  ),
);
server.timeout = 10_000;

server.on('error', (error: NodeJS.ErrnoException) => {
  const reason = error.code === 'EADDRINUSE' ? 'the address is already in use' : error.message;
  console.error(`rolldice: cannot listen on ${hostname ?? '*'}:${port}: ${reason}`);
  process.exit(1);
});
// No host: every interface, IPv6 and IPv4 (Node falls back to IPv4 where IPv6 is missing).
server.listen(port, hostname, () => {
  const { port: bound } = server.address() as AddressInfo;
  console.error(`rolldice: listening on ${listeningUrl(hostname, bound)} (node ${process.versions.node})`);
});

const onSignal = createGracefulShutdown({
  stopServer: () =>
    new Promise<void>((resolve, reject) => {
      server.close((error) => (error ? reject(error) : resolve()));
      // close() waits for keep-alive connections too; drop those that sit idle.
      server.closeIdleConnections();
      const sweep = setInterval(() => server.closeIdleConnections(), 100);
      server.once('close', () => clearInterval(sweep));
    }),
  shutdownTelemetry: () => service.telemetry.shutdown(),
  // A pipe that is full makes stdout asynchronous: exit once what was printed is written.
  exit: (code) => process.stdout.write('', () => process.exit(code)),
  log: (message) => console.error(message),
});
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
