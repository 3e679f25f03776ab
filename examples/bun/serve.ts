/**
 * Bun.serve with telemetry. Run: bun examples/bun/serve.ts
 * (set OTEL_EXPORTER_OTLP_ENDPOINT for your collector; UPSTREAM, if set, is called on every roll).
 */
import { createInstrumentedFetch, instrument, registerOTel, setRoute } from '../../mod.ts'; // '@rolldice/otel'

const otel = registerOTel({ serviceName: 'dice-bun' });
const tracedFetch = createInstrumentedFetch();
const upstream = process.env.UPSTREAM;
const rolldice = new URLPattern({ pathname: '/rolldice/:player' });

const server = Bun.serve({
  port: Number(process.env.PORT ?? 8080),
  fetch: instrument(async (request) => {
    if (!rolldice.test(request.url)) return new Response('Not Found\n', { status: 404 });
    setRoute(request, '/rolldice/:player');
    if (upstream) await (await tracedFetch(upstream)).body?.cancel();
    return new Response(`${1 + Math.floor(Math.random() * 6)}\n`);
  }),
});
process.on('SIGTERM', () => server.stop().then(otel.shutdown).finally(() => process.exit(0)));
