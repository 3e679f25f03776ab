/**
 * The Bun adapter: serves the runtime-neutral handler with `Bun.serve`.
 * Started with `bun run start`.
 */
import { createGracefulShutdown, startService } from '../mod.ts';

const port = Number(Bun.env.PORT || 8080);
const hostname = Bun.env.HOST || '0.0.0.0';
const service = startService({ runtime: { name: 'bun', version: Bun.version }, env: Bun.env, exit: (code) => process.exit(code) });

let server: ReturnType<typeof Bun.serve>;
try {
  server = Bun.serve({
    port,
    hostname,
    // Bun's only server timeout: seconds a connection may stay idle (the seed's write timeout).
    idleTimeout: 10,
    fetch(request, server) {
      const address = server.requestIP(request);
      return service.fetch(request, { clientAddress: address?.address, clientPort: address?.port });
    },
  });
} catch (error) {
  const code = (error as { code?: string }).code;
  const reason = code === 'EADDRINUSE' ? 'the address is already in use' : String(error);
  console.error(`rolldice: cannot listen on ${hostname}:${port}: ${reason}`);
  process.exit(1);
}
console.error(`rolldice: listening on http://${hostname}:${server.port} (bun ${Bun.version})`);

const onSignal = createGracefulShutdown({
  stopServer: () => server.stop(),
  shutdownTelemetry: () => service.telemetry.shutdown(),
  // Exit once what was printed has reached stdout (a pipe may still hold some).
  exit: (code) => process.stdout.write('', () => process.exit(code)),
  log: (message) => console.error(message),
});
process.on('SIGINT', onSignal);
process.on('SIGTERM', onSignal);
