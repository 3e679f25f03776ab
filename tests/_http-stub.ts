/** A local HTTP server that records what it is sent, and a port where nothing listens. */
import http from 'node:http';
import type { AddressInfo } from 'node:net';

export interface Received {
  method: string;
  url: string;
  headers: http.IncomingHttpHeaders;
}

export interface Stub {
  /** For example `http://127.0.0.1:41234`, without a trailing slash. */
  url: string;
  received: Received[];
  /** Ends open connections, then stops listening. */
  close(): Promise<void>;
}

export type Answer = (req: http.IncomingMessage, res: http.ServerResponse) => void;

/** Starts a server on 127.0.0.1 that records each request and answers as `answer` says (`ok` by default). */
export async function startStub(answer: Answer = (_, res) => res.end('ok')): Promise<Stub> {
  const received: Received[] = [];
  const server = http.createServer((req, res) => {
    received.push({ method: req.method!, url: req.url!, headers: req.headers });
    answer(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    received,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

/** A port on 127.0.0.1 where nothing listens (yet): one the system just gave out and took back. */
export async function freePort(): Promise<number> {
  const server = http.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}
