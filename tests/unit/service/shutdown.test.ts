import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createGracefulShutdown } from '../../../src/service/shutdown.ts';

function setup(overrides: { stopServer?: () => Promise<void>; shutdownTelemetry?: () => Promise<void> } = {}) {
  const events: string[] = [];
  const clock = { millis: 0 };
  let exited: (code: number) => void = () => {};
  const exit = new Promise<number>((resolve) => (exited = resolve));
  const onSignal = createGracefulShutdown({
    stopServer: overrides.stopServer ?? (() => Promise.resolve(void events.push('server stopped'))),
    shutdownTelemetry: overrides.shutdownTelemetry ?? (() => Promise.resolve(void events.push('telemetry flushed'))),
    exit: (code) => {
      events.push(`exit ${code}`);
      exited(code);
    },
    log: (message) => events.push(message),
    deadlineMillis: 1_000,
    now: () => clock.millis,
  });
  return { events, exit, onSignal, clock };
}

test('createGracefulShutdown() stops the server, then flushes telemetry, then exits 0', async () => {
  const { events, exit, onSignal } = setup();
  onSignal('SIGTERM');
  assert.equal(await exit, 0);
  assert.deepEqual(events, [
    'rolldice: SIGTERM received, finishing requests and flushing telemetry',
    'server stopped',
    'telemetry flushed',
    'rolldice: stopped after 0.00 s',
    'exit 0',
  ]);
});

test('createGracefulShutdown() exits at once on a second signal', async () => {
  const { events, exit, onSignal, clock } = setup({ stopServer: () => new Promise(() => {}) });
  onSignal('SIGINT');
  clock.millis = 800;
  onSignal('SIGINT');
  assert.equal(await exit, 130);
  assert.equal(events.at(-2), 'rolldice: SIGINT again, exiting now');
});

test('createGracefulShutdown() flushes telemetry even when the server fails to stop, and exits 1', async () => {
  const { events, exit, onSignal } = setup({ stopServer: () => Promise.reject(new Error('boom')) });
  onSignal('SIGTERM');
  assert.equal(await exit, 1);
  assert.ok(events.includes('rolldice: cannot stop the server: boom'));
  assert.ok(events.includes('telemetry flushed'));
});

test('createGracefulShutdown() names every telemetry error and exits 1', async () => {
  const { events, exit, onSignal } = setup({
    shutdownTelemetry: () => Promise.reject(new AggregateError([new Error('traces: 503'), new Error('logs: timeout')])),
  });
  onSignal('SIGTERM');
  assert.equal(await exit, 1);
  assert.equal(events.at(-2), 'rolldice: stopped after 0.00 s; cannot flush telemetry: traces: 503; logs: timeout');
});

test('createGracefulShutdown() gives up after its deadline', async () => {
  const { events, exit, onSignal } = setup({ shutdownTelemetry: () => new Promise(() => {}) });
  onSignal('SIGTERM');
  assert.equal(await exit, 1);
  assert.ok(events.includes('rolldice: shutdown took longer than 1000 ms, exiting'));
});

test('createGracefulShutdown() takes a repeat within 500 ms for the same signal passed on by a wrapper', async () => {
  const { events, exit, onSignal, clock } = setup();
  onSignal('SIGINT');
  clock.millis = 5;
  onSignal('SIGINT');
  assert.equal(await exit, 0);
  assert.ok(!events.includes('rolldice: SIGINT again, exiting now'));
  assert.ok(events.includes('telemetry flushed'));
});
