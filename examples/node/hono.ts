/**
 * A Hono app on Node.js with telemetry, served by @hono/node-server. Run: node examples/node/hono.ts
 */
import process from 'node:process';
import { serve } from '@hono/node-server';
import { getConnInfo } from '@hono/node-server/conninfo';
import { Hono } from 'hono';
import { createInstrumentedFetch, instrument, registerOTel } from '../../mod.ts'; // '@rolldice/otel'
import { httpRoute } from '../../hono.ts'; // '@rolldice/otel/hono'

const otel = registerOTel({ serviceName: 'dice-hono-node' });
const tracedFetch = createInstrumentedFetch();
const upstream = process.env.UPSTREAM;

const app = new Hono();
app.use(httpRoute());
app.get('/rolldice/:player', async (c) => {
  if (upstream) await (await tracedFetch(upstream)).body?.cancel();
  c.header('x-client-address', getConnInfo(c).remote.address);
  return c.text(`${1 + Math.floor(Math.random() * 6)}\n`);
});

const server = serve({ fetch: instrument(app.fetch), port: Number(process.env.PORT ?? 8080) });
process.on('SIGTERM', () => server.close(() => otel.shutdown().finally(() => process.exit(0))));
