/**
 * Deno.serve with telemetry. Run: deno run --allow-net --allow-env=PORT,UPSTREAM,OTEL_* examples/deno/serve.ts
 * (set OTEL_EXPORTER_OTLP_ENDPOINT for your collector; UPSTREAM, if set, is called on every roll).
 */
import { createInstrumentedFetch, instrument, registerOTel, setRoute } from '../../mod.ts'; // '@rolldice/otel'

const otel = registerOTel({ serviceName: 'dice-deno' });
const tracedFetch = createInstrumentedFetch();
const upstream = Deno.env.get('UPSTREAM');
const rolldice = new URLPattern({ pathname: '/rolldice/:player' });

const server = Deno.serve(
  { port: Number(Deno.env.get('PORT') ?? 8080) },
  instrument(async (request) => {
    if (!rolldice.test(request.url)) return new Response('Not Found\n', { status: 404 });
    setRoute(request, '/rolldice/:player');
    if (upstream) await (await tracedFetch(upstream)).body?.cancel();
    return new Response(`${1 + Math.floor(Math.random() * 6)}\n`);
  }),
);
Deno.addSignalListener('SIGTERM', () => server.shutdown().then(otel.shutdown).finally(() => Deno.exit(0)));
