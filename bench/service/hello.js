// The runtime alone, for the cold-start floor: each runtime's own HTTP server answering every
// request with a die's face, nothing imported but node:http on Node. Plain JavaScript, so that
// no runtime pays for TypeScript. Prints the service's "listening on" line on stderr, so that
// the benchmark starts it as it starts the service.
const { Deno, Bun } = globalThis;
const env = (name) => (Deno ? Deno.env.get(name) : process.env[name]);
const port = Number(env('PORT') ?? 8080);
const hostname = env('HOST') ?? '127.0.0.1';
const listening = (actual) => console.error(`hello: listening on http://${hostname}:${actual}`);
const answer = () => new Response('4\n');

if (Deno) Deno.serve({ port, hostname, onListen: ({ port }) => listening(port) }, answer);
else if (Bun) listening(Bun.serve({ port, hostname, fetch: answer }).port);
else {
  const { createServer } = await import('node:http');
  const server = createServer((_, res) => res.end('4\n'));
  server.listen(port, hostname, () => listening(server.address().port));
}
