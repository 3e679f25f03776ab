/**
 * Each runtime's adapter exporting over OTLP/HTTP to the test receiver: what arrives is
 * exactly the telemetry of the requests sent, in either protocol, and a collector that is
 * down, hangs or answers 503 never breaks or stalls the service.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { freePort } from '../_http-stub.ts';
import type { FlatMetric } from '../_otlp-decode.ts';
import { startOtlpReceiver } from '../_otlp-receiver.ts';
import { RUNTIMES } from '../_runtimes.ts';
import { startService, stopAllServices } from './_service.ts';

// Whatever a failing test left running.
afterEach(() => stopAllServices());

const REQUESTS = 12;

function roll(url: string, count: number): Promise<string[]> {
  return Promise.all(Array.from({ length: count }, async (_, i) => {
    const response = await fetch(`${url}/rolldice/player${i}`);
    assert.equal(response.status, 200);
    return response.text();
  }));
}

function dicePoints(metrics: FlatMetric[]): number {
  const last = metrics.filter((m) => m.name === 'dice.rolls').at(-1);
  return (last?.sum?.dataPoints ?? []).reduce((n, p) => n + Number(p.asInt), 0);
}

for (const runtime of RUNTIMES) {
  const variants: { name: string; env: Record<string, string>; contentType: string; encoding: string | undefined }[] = [
    { name: 'protobuf', env: {}, contentType: 'application/x-protobuf', encoding: undefined },
    {
      name: 'json + gzip',
      env: { OTEL_EXPORTER_OTLP_PROTOCOL: 'http/json', OTEL_EXPORTER_OTLP_COMPRESSION: 'gzip' },
      contentType: 'application/json',
      encoding: 'gzip',
    },
  ];
  for (const variant of variants) {
    test(`${runtime}: exports exactly the requests' spans, logs and metrics over OTLP ${variant.name}`, {
      timeout: 30_000,
    }, async () => {
      const receiver = await startOtlpReceiver();
      try {
        const service = await startService(runtime, {
          env: {
            OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
            OTEL_SERVICE_NAME: 'dice',
            OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20secret,x-tenant=t1',
            ...variant.env,
          },
        });
        const bodies = await roll(service.url, REQUESTS);
        service.signal('SIGTERM');
        assert.equal(await service.exited, 0, service.stderr());
        assert.equal(service.stdout(), '', 'nothing printed when exporting over OTLP');

        const servers = receiver.spans().filter((s) => s.kind === 2);
        const rolls = receiver.spans().filter((s) => s.name === 'roll');
        assert.equal(servers.length, REQUESTS);
        assert.equal(rolls.length, REQUESTS);
        for (const r of rolls) assert.ok(servers.some((s) => s.spanId === r.parentSpanId && s.traceId === r.traceId));
        const logs = receiver.logRecords();
        assert.equal(logs.length, REQUESTS);
        assert.deepEqual(
          logs.map((l) => l.bodyValue).sort(),
          Array.from({ length: REQUESTS }, (_, i) => `player${i} is rolling the dice`).sort(),
        );
        assert.deepEqual(
          logs.map((l) => l.attributesObject.result).sort(),
          bodies.map((b) => Number(b)).sort(),
        );
        assert.equal(dicePoints(receiver.metrics()), REQUESTS);
        assert.equal(servers[0].resource['service.name'], 'dice');
        assert.equal(servers[0].resource['process.runtime.name'], runtime === 'node' ? 'nodejs' : runtime);

        const accepted = receiver.requests.filter((r) => r.responseStatus === 200);
        assert.deepEqual([...new Set(accepted.map((r) => r.signal))].sort(), ['logs', 'metrics', 'traces']);
        for (const request of accepted) {
          assert.equal(request.contentType, variant.contentType);
          assert.equal(request.contentEncoding, variant.encoding);
          assert.equal(request.headers.authorization, 'Bearer secret');
          assert.equal(request.headers['x-tenant'], 't1');
          assert.match(request.headers['user-agent']!, /^rolldice-otel\/\S+ \(OTLP exporter; JavaScript\)$/);
          // Whole, with its length: some endpoints refuse chunked requests (Node streams its bodies).
          assert.equal(request.headers['content-length'], String(request.rawBody.length));
          assert.equal(request.headers['transfer-encoding'], undefined);
        }
      } finally {
        await receiver.close();
      }
    });
  }

  test(
    `${runtime}: a collector that is down at start loses nothing once it comes up`,
    { timeout: 30_000 },
    async () => {
      const port = await freePort();
      const service = await startService(runtime, {
        env: {
          OTEL_EXPORTER_OTLP_ENDPOINT: `http://127.0.0.1:${port}`,
          OTEL_BSP_SCHEDULE_DELAY: '100',
          OTEL_BLRP_SCHEDULE_DELAY: '100',
        },
      });
      let receiver;
      try {
        const started = performance.now();
        await roll(service.url, REQUESTS);
        // Requests never wait for the exporter: far below the export timeout of 10 s.
        assert.ok(performance.now() - started < 2_000, 'requests are answered while the collector is down');
        await new Promise((resolve) => setTimeout(resolve, 300));
        receiver = await startOtlpReceiver({ port });
        await receiver.waitFor((r) => r.spans().length >= 2 * REQUESTS, 8_000);
        service.signal('SIGTERM');
        assert.equal(await service.exited, 0, service.stderr());
        assert.equal(receiver.spans().length, 2 * REQUESTS, 'every span, once');
        assert.equal(receiver.logRecords().length, REQUESTS, 'every log record, once');
        assert.equal(dicePoints(receiver.metrics()), REQUESTS);
      } finally {
        service.signal('SIGKILL');
        await receiver?.close();
      }
    },
  );

  test(
    `${runtime}: a collector that hangs neither stalls requests nor shutdown, and the loss is counted`,
    { timeout: 30_000 },
    async () => {
      const receiver = await startOtlpReceiver();
      receiver.respond(() => 'hang');
      try {
        const service = await startService(runtime, {
          env: {
            OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
            OTEL_EXPORTER_OTLP_TIMEOUT: '1000',
            OTEL_BSP_SCHEDULE_DELAY: '50',
            ROLLDICE_SHUTDOWN_FLUSH_TIMEOUT: '1000',
          },
        });
        const started = performance.now();
        await roll(service.url, REQUESTS);
        await new Promise((resolve) => setTimeout(resolve, 200));
        await roll(service.url, REQUESTS);
        assert.ok(performance.now() - started < 2_000, 'requests are answered while exports hang');
        const signalled = performance.now();
        service.signal('SIGTERM');
        const code = await service.exited;
        // The signals flush in parallel, each for at most ROLLDICE_SHUTDOWN_FLUSH_TIMEOUT.
        assert.ok(
          performance.now() - signalled < 3_000,
          `shutdown took ${Math.round(performance.now() - signalled)} ms`,
        );
        assert.equal(code, 1, 'telemetry was lost');
        assert.match(
          service.stderr(),
          new RegExp(
            `stopped after [0-9.]+ s; telemetry lost at shutdown: ${4 * REQUESTS} spans, ${
              2 * REQUESTS
            } log records, \\d+ metric data points \\(`,
          ),
        );
      } finally {
        await receiver.close();
      }
    },
  );

  test(
    `${runtime}: a collector answering 503 to the end costs a counted loss, not failed requests`,
    { timeout: 30_000 },
    async () => {
      const receiver = await startOtlpReceiver();
      receiver.respond(() => ({ status: 503, headers: { 'retry-after': '0' } }));
      try {
        const service = await startService(runtime, {
          env: {
            OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
            OTEL_EXPORTER_OTLP_TIMEOUT: '800',
            OTEL_BSP_SCHEDULE_DELAY: '50',
            ROLLDICE_SHUTDOWN_FLUSH_TIMEOUT: '800',
          },
        });
        await roll(service.url, REQUESTS);
        await receiver.waitFor((r) => r.requests.filter((q) => q.signal === 'traces').length >= 2, 5_000);
        service.signal('SIGTERM');
        assert.equal(await service.exited, 1);
        const stderr = service.stderr();
        // Held and retried, never dropped one batch at a time; counted once, at the end.
        assert.doesNotMatch(stderr, /Dropped \d+/);
        assert.match(
          stderr,
          new RegExp(
            `telemetry lost at shutdown: ${
              2 * REQUESTS
            } spans, ${REQUESTS} log records, \\d+ metric data points \\([^)]*503`,
          ),
        );
      } finally {
        await receiver.close();
      }
    },
  );
}
