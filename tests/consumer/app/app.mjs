// A user's app, in plain JavaScript so that every Node that `engines` allows runs it as it is:
// it imports the installed package, serves one request that carries TRACEPARENT on the
// runtime's own server, prints `<status> <body>`, flushes its telemetry and exits.
import { instrumentHandler, parseConfig, setupTelemetry } from '@rolldice/otel';

const { Deno, Bun } = globalThis;
const env = Deno ? Deno.env.toObject() : process.env;
const runtime = Deno
  ? { name: 'deno', version: Deno.version.deno }
  : Bun
  ? { name: 'bun', version: Bun.version }
  : { name: 'node', version: process.versions.node };

const telemetry = setupTelemetry({ config: parseConfig(env, (message) => console.error(message)), runtime });
const handler = instrumentHandler(() => new Response('hello'), { route: '/hello' });

async function serve() {
  if (Deno) {
    const server = Deno.serve({ hostname: '127.0.0.1', port: 0, onListen() {} }, handler);
    return { port: server.addr.port, close: () => server.shutdown() };
  }
  if (Bun) {
    const server = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: (request) => handler(request) });
    return { port: server.port, close: () => server.stop() };
  }
  // Node: node:http has no fetch-style handler, so the request and the response are converted here.
  const { createServer } = await import('node:http');
  const server = createServer(async (req, res) => {
    const request = new Request(`http://${req.headers.host}${req.url}`, { method: req.method, headers: req.headers });
    const response = await handler(request, { clientAddress: req.socket.remoteAddress });
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(new Uint8Array(await response.arrayBuffer()));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: server.address().port, close: () => new Promise((resolve) => server.close(resolve)) };
}

const server = await serve();
const response = await fetch(`http://127.0.0.1:${server.port}/hello`, {
  headers: { traceparent: env.TRACEPARENT ?? '' },
});
console.log(`${response.status} ${await response.text()}`);
await server.close();
await telemetry.shutdown();
