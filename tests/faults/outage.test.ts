/**
 * Each runtime's service under load against the OTLP receiver while the collector fails: it
 * goes down and comes back, hangs one request, hangs or is dead at shutdown. Every test
 * checks sent = received + reported lost, for spans and log records, and that nothing is lost
 * where the outage buffer covers the fault. Timings are scaled down (a 2 s outage, 1 s
 * timeouts, exports every 100 ms); bench/faults.ts runs the same at 250 requests/s for 60 s.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { startOtlpReceiver } from '../_otlp-receiver.ts';
import { RUNTIMES } from '../_runtimes.ts';
import { startService } from '../e2e/_service.ts';
import {
  LOGS_PER_REQUEST,
  received,
  reportedLoss,
  rollsCounted,
  SPANS_PER_REQUEST,
  startLoad,
  stoppedAfterSeconds,
} from './_faults.ts';

const RATE = 50;
const FLUSH_MILLIS = 1500;

function env(collector: string): Record<string, string> {
  return {
    OTEL_EXPORTER_OTLP_ENDPOINT: collector,
    OTEL_BSP_SCHEDULE_DELAY: '100',
    OTEL_BLRP_SCHEDULE_DELAY: '100',
    OTEL_METRIC_EXPORT_INTERVAL: '500',
    OTEL_EXPORTER_OTLP_TIMEOUT: '1000',
    ROLLDICE_SHUTDOWN_FLUSH_TIMEOUT: String(FLUSH_MILLIS),
  };
}

const sleep = (millis: number) => new Promise((resolve) => setTimeout(resolve, millis));

for (const runtime of RUNTIMES) {
  describe(`${runtime}: the collector fails`, { concurrency: false }, () => {
    test('down for 2 s, then up: everything arrives, nothing is lost', { timeout: 40_000 }, async () => {
      const receiver = await startOtlpReceiver();
      const service = await startService(runtime, { env: env(receiver.url) });
      try {
        const load = startLoad(service.url, RATE);
        await sleep(500);
        await receiver.down();
        await sleep(2_000);
        await receiver.up();
        await sleep(500);
        await load.stop();
        assert.equal(load.failed, 0, 'every request answered 200');
        // The backoff reaches 2.25 s after 2 s of outage: the held batches go within that.
        await receiver.waitFor((r) => received(r).spans >= SPANS_PER_REQUEST * load.sent, 15_000);
        await receiver.waitFor((r) => received(r).logs >= LOGS_PER_REQUEST * load.sent, 5_000);
        service.signal('SIGTERM');
        assert.equal(await service.exited, 0, service.stderr());
        const lost = reportedLoss(service.stderr());
        const got = received(receiver);
        assert.deepEqual({ spans: got.spans, logs: got.logs }, {
          spans: SPANS_PER_REQUEST * load.sent,
          logs: LOGS_PER_REQUEST * load.sent,
        });
        assert.deepEqual(lost, { spans: 0, logs: 0, points: 0 }, service.stderr());
        assert.equal(rollsCounted(receiver), load.sent, 'dice.rolls counts every roll');
        // The exporters' and processors' own health, exported with the service's metrics.
        const names = new Set(receiver.metrics().map((m) => m.name));
        for (const name of ['otel.sdk.exporter.span.exported', 'otel.sdk.exporter.log.inflight']) {
          assert.ok(names.has(name), `${name} in ${[...names].join(', ')}`);
        }
        const capacity = receiver.metrics().filter((m) => m.name === 'otel.sdk.processor.span.queue.capacity').at(-1);
        assert.equal(Number(capacity?.sum?.dataPoints?.[0]?.asInt), 2048, 'an integer count');
      } finally {
        service.signal('SIGKILL');
        await receiver.close();
      }
    });

    test('hangs one request: it is sent again after the timeout, nothing is lost', { timeout: 30_000 }, async () => {
      const receiver = await startOtlpReceiver();
      receiver.respond((request, attempt) => (request.signal === 'traces' && attempt === 1 ? 'hang' : undefined));
      const service = await startService(runtime, { env: env(receiver.url) });
      try {
        const load = startLoad(service.url, RATE);
        await sleep(1_500);
        await load.stop();
        await receiver.waitFor((r) => received(r).spans >= SPANS_PER_REQUEST * load.sent, 10_000);
        const hung = receiver.requests.filter((r) => r.signal === 'traces' && r.responseStatus === undefined);
        assert.equal(hung.length, 1, 'one request hung');
        service.signal('SIGTERM');
        assert.equal(await service.exited, 0, service.stderr());
        const got = received(receiver);
        assert.equal(got.spans, SPANS_PER_REQUEST * load.sent);
        assert.equal(got.logs, LOGS_PER_REQUEST * load.sent);
        assert.deepEqual(reportedLoss(service.stderr()), { spans: 0, logs: 0, points: 0 });
      } finally {
        service.signal('SIGKILL');
        await receiver.close();
      }
    });

    for (const fault of ['hangs', 'is dead'] as const) {
      test(`${fault} at SIGTERM: shutdown ends within its flush time and counts exactly what it lost`, {
        timeout: 30_000,
      }, async () => {
        const receiver = await startOtlpReceiver();
        if (fault === 'hangs') receiver.respond(() => 'hang');
        else await receiver.down();
        const service = await startService(runtime, { env: env(receiver.url) });
        try {
          const load = startLoad(service.url, RATE);
          await sleep(1_000);
          await load.stop();
          const signalled = performance.now();
          service.signal('SIGTERM');
          const code = await service.exited;
          const took = performance.now() - signalled;
          const stderr = service.stderr();
          assert.equal(code, 1, `exit code 1 when telemetry was lost\n${stderr}`);
          assert.ok(took < FLUSH_MILLIS + 2_000, `shutdown took ${Math.round(took)} ms`);
          assert.ok(stoppedAfterSeconds(stderr)! * 1000 < FLUSH_MILLIS + 1_000, stderr);
          const lost = reportedLoss(stderr);
          const got = received(receiver);
          assert.equal(got.spans + lost.spans, SPANS_PER_REQUEST * load.sent, stderr);
          assert.equal(got.logs + lost.logs, LOGS_PER_REQUEST * load.sent, stderr);
          assert.equal(got.spans, 0);
          assert.ok(lost.points > 0, 'the metric data points are counted too');
          // One line with the counts, not one per batch.
          assert.equal(stderr.match(/telemetry lost at shutdown/g)?.length, 1, stderr);
          assert.doesNotMatch(stderr, /Dropped \d+/);
        } finally {
          service.signal('SIGKILL');
          await receiver.close();
        }
      });
    }
  });
}
