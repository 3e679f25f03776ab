/**
 * A Hono app on Bun with telemetry. Run: bun examples/bun/hono.ts
 */
import { Hono } from 'hono';
import { getConnInfo } from 'hono/bun';
import { createInstrumentedFetch, instrument, registerOTel } from '../../mod.ts'; // '@rolldice/otel'
import { httpRoute } from '../../hono.ts'; // '@rolldice/otel/hono'

const otel = registerOTel({ serviceName: 'dice-hono-bun' });
const tracedFetch = createInstrumentedFetch();
const upstream = process.env.UPSTREAM;

const app = new Hono();
app.use(httpRoute());
app.get('/rolldice/:player', async (c) => {
  if (upstream) await (await tracedFetch(upstream)).body?.cancel();
  c.header('x-client-address', getConnInfo(c).remote.address);
  return c.text(`${1 + Math.floor(Math.random() * 6)}\n`);
});

const server = Bun.serve({ port: Number(process.env.PORT ?? 8080), fetch: instrument(app.fetch) });
process.on('SIGTERM', () => server.stop().then(otel.shutdown).finally(() => process.exit(0)));
