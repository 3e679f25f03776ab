import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { ExportResponse, IExporterTransport } from '@opentelemetry/otlp-exporter-base';
import { reasonOf } from '../../../src/otlp/export-error.ts';
import { createRetryingTransport } from '../../../src/otlp/retrying-transport.ts';
import { captureDiag } from '../../_diag.ts';

const BODY = new TextEncoder().encode('{"resourceSpans":[]}');

/** A transport that answers from a script and records the time budget of each attempt. */
function scripted(responses: ExportResponse[]) {
  const budgets: number[] = [];
  let shutdowns = 0;
  const transport: IExporterTransport = {
    send: (_data, timeoutMillis) => {
      budgets.push(timeoutMillis);
      return Promise.resolve(responses.shift() ?? { status: 'success' });
    },
    shutdown: () => void shutdowns++,
  };
  return { transport, budgets, shutdowns: () => shutdowns };
}

const RETRY: ExportResponse = { status: 'retryable', error: Object.assign(new Error('Busy'), { reason: 'busy' }) };

test('createRetryingTransport() backs off exponentially with jitter within the deadline', async () => {
  const captured = captureDiag();
  try {
    const { transport, budgets } = scripted([RETRY, RETRY, RETRY]);
    let draw = 0;
    const random = () => [0, 0.9999, 0.5][draw++]!;
    const retrying = createRetryingTransport(transport, {
      initialBackoffMillis: 20,
      backoffMultiplier: 2,
      maxBackoffMillis: 50,
      jitter: 0.2,
      random,
    });
    assert.deepEqual(await retrying.send(BODY, 2000), { status: 'success' });
    assert.equal(budgets.length, 4);
    assert.ok(budgets[0]! > 1990 && budgets[0]! <= 2000);
    for (let i = 1; i < budgets.length; i++) assert.ok(budgets[i]! < budgets[i - 1]!, 'each attempt gets what is left');
    // 20 × 0.8, 40 × 1.2 capped at 50, 50 × 1.0.
    assert.deepEqual(captured.texts().filter((m) => m.startsWith('Retrying')), [
      'Retrying the OTLP export in 16 ms: busy',
      'Retrying the OTLP export in 48 ms: busy',
      'Retrying the OTLP export in 50 ms: busy',
    ]);
  } finally {
    captured.restore();
  }
});

test('createRetryingTransport() honours Retry-After and gives up when it is past the deadline', async () => {
  const { transport, budgets } = scripted([
    { status: 'retryable', retryInMillis: 0, error: RETRY.error },
    { status: 'retryable', retryInMillis: 5000, error: RETRY.error },
  ]);
  const retrying = createRetryingTransport(transport, { initialBackoffMillis: 10_000 });
  const started = performance.now();
  const response = await retrying.send(BODY, 1000);
  assert.ok(performance.now() - started < 300, 'Retry-After: 0 retries at once; 5 s is past the deadline, no wait');
  assert.equal(budgets.length, 2);
  assert.equal(response.status, 'failure');
  assert.equal(
    reasonOf((response as { error: Error }).error),
    'busy; it asked to retry after 5 s, past the 1 s export timeout',
  );
});

test('createRetryingTransport() returns a permanent failure after one attempt', async () => {
  const failure: ExportResponse = { status: 'failure', error: new Error('No') };
  const { transport, budgets } = scripted([failure]);
  assert.equal(await createRetryingTransport(transport).send(BODY, 1000), failure);
  assert.equal(budgets.length, 1);
});

test('createRetryingTransport() stops when the deadline passes and says after how many attempts', async () => {
  const { transport, budgets } = scripted(Array.from({ length: 100 }, () => RETRY));
  const retrying = createRetryingTransport(transport, { initialBackoffMillis: 30, jitter: 0 });
  const started = performance.now();
  const response = await retrying.send(BODY, 200);
  const elapsed = performance.now() - started;
  assert.ok(elapsed < 260, `took ${elapsed} ms`);
  // 30 + 45 + 67.5 = 142.5 ms of pauses; the fourth (101 ms) would pass 200 ms.
  assert.equal(budgets.length, 4);
  assert.equal(
    reasonOf((response as { error: Error }).error),
    'busy; gave up after 4 attempts, as the 200 ms export timeout ran out',
  );
});

test('createRetryingTransport() names the retries when the last attempt times out, even a little early', async () => {
  // The clock stands still: the last attempt's timer "fired" before the deadline was reached,
  // as timers rounded to whole milliseconds can.
  const timeout: ExportResponse = {
    status: 'failure',
    error: Object.assign(new Error('The collector did not answer within 2 ms'), {
      reason: 'the collector did not answer within 2 ms',
      timedOut: true,
    }),
  };
  const { transport, budgets } = scripted([RETRY, timeout]);
  const retrying = createRetryingTransport(transport, { initialBackoffMillis: 0, jitter: 0, now: () => 0 });
  const response = await retrying.send(BODY, 800);
  assert.equal(budgets.length, 2);
  assert.equal(
    reasonOf((response as { error: Error }).error),
    'busy; gave up after 2 attempts, as the 800 ms export timeout ran out',
  );
});

test('createRetryingTransport() shutdown() ends a pause at once and shuts the transport down', async () => {
  const captured = captureDiag();
  try {
    const { transport, shutdowns } = scripted([RETRY]);
    const retrying = createRetryingTransport(transport, { initialBackoffMillis: 5000, jitter: 0 });
    const started = performance.now();
    const pending = retrying.send(BODY, 10_000);
    // Said just before the 5 s pause begins.
    await captured.next(/^Retrying the OTLP export in 5 s/);
    retrying.shutdown();
    const response = await pending;
    assert.ok(performance.now() - started < 2_000, 'well before the pause would have ended');
    assert.equal(reasonOf((response as { error: Error }).error), 'busy; the exporter shut down before attempt 2');
    assert.equal(shutdowns(), 1);
  } finally {
    captured.restore();
  }
});
