// A user's app, in plain JavaScript so that every Node that `engines` allows runs it as it is:
// it imports the installed package, serves one request that carries TRACEPARENT on the
// runtime's own server, prints `<status> <body>`, flushes its telemetry and exits.
import { instrument, registerOTel, setRoute } from '@rolldice/otel';

const { Deno, Bun } = globalThis;
const otel = registerOTel(); // OTEL_SERVICE_NAME and OTEL_EXPORTER_OTLP_ENDPOINT from the environment
const handler = instrument((request) => {
  setRoute(request, '/hello');
  return new Response('hello');
});

async function serve() {
  if (Deno) {
    const server = Deno.serve({ hostname: '127.0.0.1', port: 0, onListen() {} }, handler);
    return { port: server.addr.port, close: () => server.shutdown() };
  }
  if (Bun) {
    const server = Bun.serve({ hostname: '127.0.0.1', port: 0, fetch: handler });
    return { port: server.port, close: () => server.stop() };
  }
  // Node: node:http has no fetch-style handler, so the request and the response are converted here.
  const { createServer } = await import('node:http');
  const server = createServer(async (req, res) => {
    const request = new Request(`http://${req.headers.host}${req.url}`, { method: req.method, headers: req.headers });
    const response = await handler(request);
    res.writeHead(response.status, Object.fromEntries(response.headers));
    res.end(new Uint8Array(await response.arrayBuffer()));
  });
  await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: server.address().port, close: () => new Promise((resolve) => server.close(resolve)) };
}

const server = await serve();
const traceparent = Deno ? Deno.env.get('TRACEPARENT') : process.env.TRACEPARENT;
const response = await fetch(`http://127.0.0.1:${server.port}/hello`, { headers: { traceparent: traceparent ?? '' } });
console.log(`${response.status} ${await response.text()}`);
await server.close();
await otel.shutdown();
