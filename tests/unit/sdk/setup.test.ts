import assert from 'node:assert/strict';
import { test } from 'node:test';
import { diag } from '@opentelemetry/api';
import { globalErrorHandler } from '@opentelemetry/core';
import { createApp } from '../../../src/service/app.ts';
import { parseConfig } from '../../../src/config.ts';
import { setupTelemetry } from '../../../src/sdk/setup.ts';
import { flattenLogRecords, flattenMetrics, flattenSpans, normalizeOtlpJson } from '../../_otlp-decode.ts';
import { startOtlpReceiver } from '../../_otlp-receiver.ts';

const runtime = { name: 'node', version: '0.0.0-test' } as const;

function setup(env: Record<string, string>) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const stderrWaiters = new Set<() => void>();
  const toStderr = (text: string) => {
    stderr.push(text);
    for (const check of stderrWaiters) check();
  };
  const telemetry = setupTelemetry({
    config: parseConfig(env, toStderr),
    runtime,
    output: { stdout: (text) => stdout.push(text), stderr: toStderr },
    registerGlobals: false,
  });
  return { telemetry, stdout, stderr };
}

test('setupTelemetry() prints spans, logs and metrics to stdout as OTLP/JSON on shutdown', async () => {
  const { telemetry, stdout } = setup({ OTEL_SERVICE_NAME: 'dice' });
  const app = createApp(telemetry);
  assert.equal((await app(new Request('http://localhost/rolldice/Alice'))).status, 200);
  await telemetry.shutdown();
  // Each document is one export, in OTLP/JSON; the flatteners read it in its canonical form.
  const documents = stdout.map((text) => normalizeOtlpJson(JSON.parse(text)));
  const spans = flattenSpans(documents);
  assert.deepEqual(spans.map((s) => s.name).sort(), ['GET /rolldice/{player}', 'roll']);
  assert.equal(flattenLogRecords(documents)[0]?.bodyValue, 'Alice is rolling the dice');
  assert.deepEqual(flattenMetrics(documents).map((m) => m.name).sort(), [
    'dice.rolls',
    'http.server.request.duration',
    'http.server.response.body.size',
  ]);
  const resource = spans[0]!.resource;
  assert.equal(resource['service.name'], 'dice');
});

test('setupTelemetry() shutdown() is idempotent', async () => {
  const { telemetry, stdout } = setup({});
  await createApp(telemetry)(new Request('http://localhost/rolldice'));
  const first = telemetry.shutdown();
  assert.equal(telemetry.shutdown(), first);
  await first;
  const printed = stdout.length;
  await telemetry.shutdown();
  assert.equal(stdout.length, printed, 'nothing exported twice');
});

test('setupTelemetry() under OTEL_SDK_DISABLED serves without exporting anything', async () => {
  const { telemetry, stdout } = setup({ OTEL_SDK_DISABLED: 'true' });
  assert.equal(telemetry.enabled, false);
  const response = await createApp(telemetry)(new Request('http://localhost/rolldice/Alice'));
  assert.equal(response.status, 200);
  await telemetry.shutdown();
  assert.deepEqual(stdout, []);
});

test('setupTelemetry() with OTEL_TRACES_SAMPLER=always_off records no spans but still logs and counts', async () => {
  const { telemetry, stdout } = setup({ OTEL_TRACES_SAMPLER: 'always_off' });
  await createApp(telemetry)(new Request('http://localhost/rolldice'));
  await telemetry.shutdown();
  const text = stdout.join('\n');
  assert.doesNotMatch(text, /resourceSpans/);
  assert.match(text, /Anonymous player is rolling the dice/);
  assert.match(text, /dice\.rolls/);
});

test("setupTelemetry() sends the SDK's diagnostics to stderr at OTEL_LOG_LEVEL", () => {
  const { stderr } = setup({ OTEL_LOG_LEVEL: 'warn' });
  diag.warn('something odd');
  diag.info('not shown');
  assert.deepEqual(stderr, ['rolldice: otel warn: something odd']);
  diag.disable();
});

test('setupTelemetry() prints an error the SDK reports as one line with its message, not a JSON dump', () => {
  const { stderr } = setup({ OTEL_LOG_LEVEL: 'error' });
  const error = new Error('Could not reach the collector at http://127.0.0.1:4318/v1/traces');
  // What the batch processors do with a failed export: the SDK's global error handler.
  globalErrorHandler(error);
  diag.disable();
  assert.deepEqual(stderr, ['rolldice: otel error: Could not reach the collector at http://127.0.0.1:4318/v1/traces']);
});

test('setupTelemetry() shutdown() rejects by its flush time when the collector hangs, counting what it lost', async () => {
  const receiver = await startOtlpReceiver();
  receiver.respond(() => 'hang');
  try {
    const { telemetry } = setup({
      OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
      OTEL_EXPORTER_OTLP_TIMEOUT: '300',
      OTEL_METRICS_EXPORTER: 'none',
      OTEL_LOGS_EXPORTER: 'none',
      OTEL_BSP_MAX_EXPORT_BATCH_SIZE: '1',
      ROLLDICE_SHUTDOWN_FLUSH_TIMEOUT: '300',
    });
    // Five batches of one span, each waiting out its 300 ms timeout: 1.5 s to flush, where
    // the shutdown may spend 300 ms.
    const tracer = telemetry.tracerProvider.getTracer('t');
    for (let i = 0; i < 5; i++) tracer.startSpan(`span ${i}`).end();
    const started = performance.now();
    await assert.rejects(telemetry.shutdown(), { message: /^telemetry lost at shutdown: 5 spans, 0 log records/ });
    const elapsed = performance.now() - started;
    assert.ok(elapsed >= 250 && elapsed < 1_200, `shutdown rejected after ${Math.round(elapsed)} ms`);
  } finally {
    await receiver.close();
  }
});
