/**
 * A Hono app on Deno with telemetry. Run: deno run --allow-net --allow-env=PORT,UPSTREAM,OTEL_* examples/deno/hono.ts
 */
import { Hono } from 'hono';
import { getConnInfo } from 'hono/deno';
import { createInstrumentedFetch, instrument, registerOTel } from '../../mod.ts'; // '@rolldice/otel'
import { httpRoute } from '../../hono.ts'; // '@rolldice/otel/hono'

const otel = registerOTel({ serviceName: 'dice-hono-deno' });
const tracedFetch = createInstrumentedFetch();
const upstream = Deno.env.get('UPSTREAM');

const app = new Hono();
app.use(httpRoute());
app.get('/rolldice/:player', async (c) => {
  if (upstream) await (await tracedFetch(upstream)).body?.cancel();
  c.header('x-client-address', getConnInfo(c).remote.address);
  return c.text(`${1 + Math.floor(Math.random() * 6)}\n`);
});

const server = Deno.serve({ port: Number(Deno.env.get('PORT') ?? 8080) }, instrument(app.fetch));
Deno.addSignalListener('SIGTERM', () => server.shutdown().then(otel.shutdown).finally(() => Deno.exit(0)));
