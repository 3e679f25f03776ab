/**
 * The Node.js adapter: serves the runtime-neutral handler with `node:http`. Built to
 * `dist/node.js` (`npm run build`) and started with `npm start` or `node dist/node.js`.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import process from 'node:process';
import { Readable } from 'node:stream';
import { createGracefulShutdown, type FetchHandler, startService } from '../mod.ts';

const port = Number(process.env.PORT || 8080);
const host = process.env.HOST || undefined; // undefined: every interface, IPv6 and IPv4
const service = startService({ runtime: { name: 'node', version: process.versions.node }, env: process.env });

const server = createServer(
  {
    // The seed's timeouts: 1 s to read a request; 10 s of inactivity while answering.
    requestTimeout: 1_000,
    headersTimeout: 1_000,
    connectionsCheckingInterval: 250,
  },
  (req, res) => serve(service.fetch, req, res),
);
server.timeout = 10_000;

server.on('error', (error: NodeJS.ErrnoException) => {
  const reason = error.code === 'EADDRINUSE' ? 'the address is already in use' : error.message;
  console.error(`rolldice: cannot listen on ${host ?? '*'}:${port}: ${reason}`);
  process.exit(1);
});
server.listen(port, host, () => {
  const { port: bound } = server.address() as AddressInfo;
  console.error(`rolldice: listening on http://${host ?? 'localhost'}:${bound} (node ${process.versions.node})`);
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
  exit: (code) => process.exit(code),
  log: (message) => console.error(message),
});
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);

async function serve(handler: FetchHandler, req: IncomingMessage, res: ServerResponse): Promise<void> {
  try {
    const response = await handler(toRequest(req), {
      clientAddress: req.socket.remoteAddress,
      clientPort: req.socket.remotePort,
      protocolVersion: req.httpVersion,
    });
    await send(response, res);
  } catch (error) {
    // Nothing escapes the listener: answer 500 if we still can, else drop the connection.
    console.error('rolldice: cannot answer a request:', error);
    if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain; charset=utf-8' }).end('Internal Server Error\n');
    else res.destroy();
  }
}

function toRequest(req: IncomingMessage): Request {
  const headers = new Headers();
  const raw = req.rawHeaders;
  for (let i = 0; i < raw.length; i += 2) headers.append(raw[i]!, raw[i + 1]!);
  const url = `http://${req.headers.host ?? 'localhost'}${req.url ?? '/'}`;
  if (req.method === 'GET' || req.method === 'HEAD') return new Request(url, { method: req.method, headers });
  return new Request(url, {
    method: req.method,
    headers,
    body: Readable.toWeb(req) as ReadableStream<Uint8Array>,
    // @ts-expect-error: fetch requires `duplex` with a stream body; lib.dom's RequestInit lacks it
    duplex: 'half',
  });
}

async function send(response: Response, res: ServerResponse): Promise<void> {
  const headers: string[] = [];
  response.headers.forEach((value, name) => headers.push(name, value));
  res.writeHead(response.status, headers);
  if (response.body === null) {
    res.end();
    return;
  }
  for await (const chunk of response.body) {
    if (!res.write(chunk)) await new Promise((resolve) => res.once('drain', resolve));
  }
  res.end();
}
