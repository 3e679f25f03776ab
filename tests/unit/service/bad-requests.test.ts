import assert from 'node:assert/strict';
import { test } from 'node:test';
import { badRequest, checkHost, createBadRequestLog } from '../../../src/service/bad-requests.ts';
import { createGracefulShutdown } from '../../../src/service/shutdown.ts';

test('checkHost() accepts a host name, an IPv4 or IPv6 address, with or without a port', () => {
  for (const host of ['localhost', 'dice.example.com', '127.0.0.1:8080', '[::1]', '[::1]:8080', 'a%41b', 'x:']) {
    assert.equal(checkHost(host), undefined, host);
  }
});

test('checkHost() names what is wrong with a missing or invalid Host', () => {
  assert.equal(checkHost(null), 'no Host header');
  assert.equal(checkHost(''), 'no Host header');
  for (const host of ['a b', '[::1', '::1]', '%zz@', 'a/b', 'a@b', 'x:8o', 'a, b']) {
    assert.equal(checkHost(host), 'an invalid Host header', host);
  }
  assert.equal(checkHost('x:99999'), 'an invalid Host port');
  assert.equal(checkHost('x:65535'), undefined);
});

test('badRequest() answers 400 with a short text and closes the connection', async () => {
  const response = badRequest('no Host header');
  assert.equal(response.status, 400);
  assert.equal(response.headers.get('connection'), 'close');
  assert.equal(await response.text(), 'Bad Request: no Host header\n');
});

test('createBadRequestLog() says each cause once per interval, then how many went unsaid', () => {
  const lines: string[] = [];
  let now = 0;
  const log = createBadRequestLog((line) => lines.push(line), 60_000, () => now);
  log('no Host header');
  log('no Host header');
  log('headers over 16 KiB', 431);
  now = 59_999;
  log('no Host header');
  assert.deepEqual(lines, [
    'rolldice: answered 400 to a request with no Host header',
    'rolldice: answered 431 to a request with headers over 16 KiB',
  ]);
  now = 60_000;
  log('no Host header');
  log('no Host header');
  assert.deepEqual(lines.slice(2), [
    'rolldice: answered 400 to a request with no Host header (and 2 more since the last such line)',
  ]);
});

function run(shutdownTelemetry: () => Promise<void>, options: { flushTimeoutMillis?: number } = {}) {
  const lines: string[] = [];
  let millis = 0;
  const exited = new Promise<number>((resolve) => {
    const onSignal = createGracefulShutdown({
      stopServer: () => Promise.resolve(),
      shutdownTelemetry: async () => {
        millis = 5_120;
        await shutdownTelemetry();
      },
      exit: resolve,
      log: (line) => lines.push(line),
      now: () => millis,
      ...options,
    });
    onSignal('SIGTERM');
  });
  return { lines, exited };
}

test('createGracefulShutdown() ends with one line that counts what telemetry lost at shutdown, and exits 1', async () => {
  const lost = Object.assign(
    new Error(
      'telemetry lost at shutdown: 1740 spans, 870 log records, 2 metric data points (the collector did not answer); lost since start: 1740 spans, 870 log records, 2 metric data points',
    ),
    { lostAtShutdown: { traces: 1740, logs: 870, metrics: 2 } },
  );
  const { lines, exited } = run(() => Promise.reject(lost));
  assert.equal(await exited, 1);
  assert.deepEqual(lines, [
    'rolldice: SIGTERM received, finishing requests and flushing telemetry',
    'rolldice: stopped after 5.12 s; telemetry lost at shutdown: 1740 spans, 870 log records, 2 metric data points (the collector did not answer); lost since start: 1740 spans, 870 log records, 2 metric data points',
  ]);
});

test('createGracefulShutdown() ends with how long it took, and exits 0, when everything was delivered', async () => {
  const { lines, exited } = run(() => Promise.resolve());
  assert.equal(await exited, 0);
  assert.equal(lines.at(-1), 'rolldice: stopped after 5.12 s');
});
