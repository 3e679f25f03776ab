import assert from 'node:assert/strict';
import { diag } from '@opentelemetry/api';
import { globalErrorHandler } from '@opentelemetry/core';
import { createApp } from '../../src/service/app.ts';
import { parseConfig } from '../../src/config.ts';
import { setupTelemetry } from '../../src/sdk/setup.ts';
import { test } from '../_harness.ts';

const runtime = { name: 'node', version: '0.0.0-test' } as const;

function setup(env: Record<string, string>) {
  const stdout: string[] = [];
  const stderr: string[] = [];
  const telemetry = setupTelemetry({
    config: parseConfig(env, (message) => stderr.push(message)),
    runtime,
    output: { stdout: (text) => stdout.push(text), stderr: (text) => stderr.push(text) },
    registerGlobals: false,
  });
  return { telemetry, stdout, stderr };
}

test('setupTelemetry() prints spans, logs and metrics to stdout as OTLP/JSON on shutdown', async () => {
  const { telemetry, stdout } = setup({ OTEL_SERVICE_NAME: 'dice' });
  const app = createApp(telemetry);
  assert.equal((await app(new Request('http://localhost/rolldice/Alice'))).status, 200);
  await telemetry.shutdown();
  const documents = stdout.map((text) => JSON.parse(text));
  const spans = documents.flatMap((d) => d.resourceSpans ?? []).flatMap((r: any) => r.scopeSpans).flatMap((s: any) =>
    s.spans
  );
  const logs = documents.flatMap((d) => d.resourceLogs ?? []).flatMap((r: any) => r.scopeLogs).flatMap((s: any) =>
    s.logRecords
  );
  const metrics = documents.flatMap((d) => d.resourceMetrics ?? []).flatMap((r: any) => r.scopeMetrics).flatMap((
    s: any,
  ) => s.metrics);
  assert.deepEqual(spans.map((s: any) => s.name).sort(), ['GET /rolldice/{player}', 'roll']);
  assert.equal(logs[0].body.stringValue, 'Alice is rolling the dice');
  assert.deepEqual(metrics.map((m: any) => m.name).sort(), ['dice.rolls', 'http.server.request.duration']);
  const traces = documents.find((d) => d.resourceSpans);
  const resource = Object.fromEntries(
    traces.resourceSpans[0].resource.attributes.map((a: any) => [a.key, a.value.stringValue]),
  );
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
