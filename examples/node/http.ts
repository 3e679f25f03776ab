/**
 * node:http with telemetry, through @hono/node-server's bridge to fetch handlers. Run: node examples/node/http.ts
 * (set OTEL_EXPORTER_OTLP_ENDPOINT for your collector; UPSTREAM, if set, is called on every roll).
 */
import { createServer } from 'node:http';
import process from 'node:process';
import { getRequestListener } from '@hono/node-server';
import { createInstrumentedFetch, instrument, registerOTel, setRoute } from '../../mod.ts'; // '@rolldice/otel'

const otel = registerOTel({ serviceName: 'dice-node' });
const tracedFetch = createInstrumentedFetch();
const upstream = process.env.UPSTREAM;
const rolldice = new URLPattern({ pathname: '/rolldice/:player' });

const server = createServer(getRequestListener(instrument(async (request) => {
  if (!rolldice.test(request.url)) return new Response('Not Found\n', { status: 404 });
  setRoute(request, '/rolldice/:player');
  if (upstream) await (await tracedFetch(upstream)).body?.cancel();
  return new Response(`${1 + Math.floor(Math.random() * 6)}\n`);
})));
server.listen(Number(process.env.PORT ?? 8080));
process.on('SIGTERM', () => server.close(() => otel.shutdown().finally(() => process.exit(0))));
