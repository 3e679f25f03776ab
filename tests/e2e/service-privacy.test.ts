/**
 * The dice service on each runtime, listening on every interface (dual-stack where the machine
 * has IPv6): a signature in the query reaches no telemetry, and the client reads as the plain
 * IPv4 address on all three runtimes. Runs under Node; spawns each runtime's adapter.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { RUNTIMES } from '../_runtimes.ts';
import { collect, startService } from './_service.ts';

describe('the dice service', () => {
  for (const runtime of RUNTIMES) {
    test(`${runtime}: GET /rolldice?sig=SECRET puts SECRET nowhere, and the client is 127.0.0.1`, async () => {
      // HOST empty: every interface, so Node and Bun see IPv4 clients as ::ffff:127.0.0.1.
      const service = await startService(runtime, { env: { HOST: '' } });
      try {
        const response = await fetch(`${service.url}/rolldice?sig=SECRET&player=Alice&X-Goog-Signature=SECRET`);
        assert.equal(response.status, 200);
        await response.text();
        service.signal('SIGTERM');
        assert.equal(await service.exited, 0, service.stderr());
        assert.doesNotMatch(service.stdout(), /SECRET/);
        assert.doesNotMatch(service.stderr(), /SECRET/);
        const server = collect(service.stdout()).spans.find((s) => s.kind === 2)!;
        assert.equal(server.attributesObject['url.query'], 'sig=REDACTED&player=Alice&X-Goog-Signature=REDACTED');
        assert.equal(server.attributesObject['client.address'], '127.0.0.1');
        assert.equal(server.attributesObject['network.peer.address'], '127.0.0.1');
      } finally {
        service.signal('SIGKILL');
      }
    });
  }
});
