/**
 * The Node.js adapter: serves the dice service with `node:http`. Built to `dist/node-service.js`
 * (`npm run build`), which `dist/node.js` (runtimes/node-entry.js) loads: `npm start` or `node dist/node.js`.
 */
import { createServer } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import process from 'node:process';
import { getRequestListener, RequestError } from '@hono/node-server';
import { consoleOutput, describeError } from '../mod.ts';
import {
  badRequest,
  createBadRequestLog,
  createGracefulShutdown,
  listeningUrl,
  startService,
} from '../src/service/mod.ts';

const service = startService({
  runtime: { name: 'node', version: process.versions.node },
  env: process.env,
  output: consoleOutput,
  exit: (code) => process.exit(code),
  streamRequestBodies: true,
});
const { port, hostname } = service.config;
const logBadRequest = createBadRequestLog((line) => console.error(line));

const server = createServer(
  {
    // The seed's timeouts: 1 s to read a request (checked every 250 ms), 10 s of inactivity
    // while answering; idle keep-alive connections are kept 65 s, longer than the 60 s after
    // which common proxies (AWS ALB, nginx) close theirs, so that the proxy closes first and
    // never sends a request on a connection the service is closing (docs/reliability.md).
    requestTimeout: 1_000,
    headersTimeout: 1_000,
    connectionsCheckingInterval: 250,
    keepAliveTimeout: 65_000,
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
      // Nothing escapes the listener. A message that cannot become a Request (no or an invalid
      // Host, a target such as `*`) is answered 400 at once; the service itself answers 500.
      errorHandler: (error) => {
        if (error instanceof RequestError) {
          logBadRequest(`an unusable target or Host (${error.message})`);
          return badRequest('the request target or Host header cannot be used');
        }
        console.error(`rolldice: cannot answer a request: ${describeError(error)}`);
        return new Response('Internal Server Error\n', { status: 500, headers: { connection: 'close' } });
      },
    },
  ),
);
server.timeout = 10_000;

const CLIENT_ERROR_ANSWERS: Record<string, { status: string; cause: string }> = {
  HPE_HEADER_OVERFLOW: { status: '431 Request Header Fields Too Large', cause: 'headers over 16 KiB' },
  ERR_HTTP_REQUEST_TIMEOUT: { status: '408 Request Timeout', cause: 'less than its whole head in 1 s' },
};

// Node's own answer to a request its parser rejects is written, then the socket destroyed with
// the rest of the request unread, which resets the connection: a client still sending a 1 MB
// header gets the reset, not the 431. Here the answer is followed by a lingering close: what
// the client still sends is read and dropped (each chunk a parser error again) for up to a
// second, then the connection closes. A client too slow to send its request in time gets its
// 408 and the connection closed at once.
const answered = new WeakSet<Socket>();
server.on('clientError', (error: NodeJS.ErrnoException, socket: Socket) => {
  if (answered.has(socket)) return;
  if (error.code === 'ECONNRESET' || !socket.writable) {
    socket.destroy();
    return;
  }
  answered.add(socket);
  const answer = CLIENT_ERROR_ANSWERS[error.code ?? ''] ??
    { status: '400 Bad Request', cause: `a message the HTTP parser refused (${error.code ?? error.message})` };
  logBadRequest(answer.cause, Number(answer.status.slice(0, 3)));
  const response = `HTTP/1.1 ${answer.status}\r\nConnection: close\r\nContent-Length: 0\r\n\r\n`;
  if (error.code === 'ERR_HTTP_REQUEST_TIMEOUT') {
    socket.end(response, () => socket.destroy());
    return;
  }
  socket.end(response);
  socket.on('data', () => {});
  socket.resume();
  setTimeout(() => socket.destroy(), 1_000).unref();
});

// Every connection, so that shutdown can close those with no request in flight.
const sockets = new Set<Socket>();
server.on('connection', (socket: Socket) => {
  sockets.add(socket);
  socket.once('close', () => sockets.delete(socket));
});

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

/**
 * Closes the connections with no response in progress: idle keep-alive ones, and those still
 * sending a request, which close() waits for and whose 1 s limit close() stops checking.
 * `_httpMessage` is node:http's response on a socket, set from a request's headers to its
 * response's end, the mark http-terminator and others also read.
 */
function closeConnectionsWithNothingInFlight(): void {
  for (const socket of sockets) {
    if ((socket as Socket & { _httpMessage?: unknown })._httpMessage == null) socket.destroy();
  }
}

const onSignal = createGracefulShutdown({
  stopServer: () =>
    new Promise<void>((resolve, reject) => {
      server.close((error) => (error ? reject(error) : resolve()));
      closeConnectionsWithNothingInFlight();
      const sweep = setInterval(closeConnectionsWithNothingInFlight, 100);
      server.once('close', () => clearInterval(sweep));
    }),
  shutdownTelemetry: () => service.telemetry.shutdown(),
  flushTimeoutMillis: service.config.telemetry.delivery.shutdownFlushMillis,
  // A pipe that is full makes stdout asynchronous: exit once what was printed is written.
  exit: (code) => process.stdout.write('', () => process.exit(code)),
  log: (message) => console.error(message),
});
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
