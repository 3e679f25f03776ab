import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  createDeliveryBudget,
  createDeliveryQueue,
  type DeliveryBudget,
  type DeliveryQueueOptions,
} from '../../../src/otlp/delivery.ts';
import { exportError } from '../../../src/otlp/export-error.ts';
import type { SendResult } from '../../../src/otlp/fetch-transport.ts';
import { FakeClock, settle } from '../../_fake-clock.ts';

/** A collector whose answers the test gives, one request at a time. */
function scriptedCollector() {
  const requests: { body: string; timeoutMillis: number; answer(result: SendResult): void }[] = [];
  let aborted = 0;
  return {
    requests,
    aborted: () => aborted,
    send: (body: Uint8Array, timeoutMillis: number, signal: AbortSignal) =>
      new Promise<SendResult>((resolve) => {
        const request = { body: new TextDecoder().decode(body), timeoutMillis, answer: resolve };
        requests.push(request);
        // Abandoned by the queue: what the transport says when its time runs out.
        signal.addEventListener('abort', () => {
          requests.splice(requests.indexOf(request), 1);
          resolve({
            status: 'retryable',
            error: exportError('the collector did not answer within 2000 ms', 'timeout'),
          });
        });
      }),
    abort: () => {
      aborted++;
      for (const request of requests.splice(0)) {
        request.answer({ status: 'failure', error: exportError('the exporter was shut down', 'shutdown') });
      }
    },
    /** Answers the oldest unanswered request. */
    next(result: SendResult = { status: 'success' }): string {
      const request = requests.shift();
      assert.ok(request, 'a request was sent');
      request.answer(result);
      return request.body;
    },
  };
}

const UNAVAILABLE: SendResult = {
  status: 'retryable',
  error: exportError('the collector at http://collector/v1/traces answered 503 Service Unavailable', '503'),
};
const BAD_REQUEST: SendResult = {
  status: 'failure',
  error: exportError('the collector at http://collector/v1/traces answered 400 Bad Request', '400'),
};

function setup(overrides: Partial<DeliveryQueueOptions> & { budget?: DeliveryBudget } = {}) {
  const clock = new FakeClock();
  const collector = scriptedCollector();
  const delivered: string[] = [];
  const lost: { body: string; count: number; reason: string; errorType: string; atClose: boolean }[] = [];
  const queue = createDeliveryQueue({
    send: collector.send,
    abort: collector.abort,
    budget: createDeliveryBudget(1_000_000),
    attemptTimeoutMillis: 10_000,
    concurrency: 2,
    endpoint: 'http://collector/v1/traces',
    initialBackoffMillis: 1000,
    maxBackoffMillis: 5000,
    backoffMultiplier: 2,
    jitter: 0,
    onDelivered: (batch) => delivered.push(new TextDecoder().decode(batch.body)),
    onLost: (batch, error, atClose) =>
      lost.push({
        body: new TextDecoder().decode(batch.body),
        count: batch.count,
        reason: error.reason,
        errorType: error.errorType,
        atClose,
      }),
    now: clock.now,
    setTimer: clock.setTimer,
    ...overrides,
  });
  const add = (body: string, count = 1) => queue.add(new TextEncoder().encode(body), count);
  return { clock, collector, delivered, lost, queue, add };
}

test('createDeliveryQueue() sends requests oldest first, at most `concurrency` at a time', async () => {
  const { collector, delivered, queue, add } = setup();
  for (const body of ['a', 'b', 'c']) add(body);
  assert.deepEqual(collector.requests.map((r) => r.body), ['a', 'b'], 'two in flight, c waits');
  assert.equal(queue.heldItems, 3);
  collector.next();
  await settle();
  assert.deepEqual(collector.requests.map((r) => r.body), ['b', 'c']);
  collector.next();
  collector.next();
  await settle();
  assert.deepEqual(delivered, ['a', 'b', 'c']);
  assert.equal(queue.heldItems, 0);
  assert.equal(queue.heldBytes, 0);
});

test('createDeliveryQueue() gives each request the attempt timeout', () => {
  const { collector, add } = setup({ attemptTimeoutMillis: 2500 });
  add('a');
  assert.equal(collector.requests[0]!.timeoutMillis, 2500);
});

test('createDeliveryQueue() holds everything through an outage, then delivers it all in order with nothing lost', async () => {
  const { clock, collector, delivered, lost, add } = setup({ concurrency: 4 });
  add('a');
  add('b');
  collector.next(UNAVAILABLE);
  collector.next(UNAVAILABLE);
  await settle();
  for (const body of ['c', 'd', 'e']) add(body);
  assert.equal(collector.requests.length, 0, 'paused: nothing is sent during the backoff');
  // Backoff 1 s, then one request at a time (the oldest) until one is delivered: 2 s, 4 s, 5 s, 5 s.
  const pauses: number[] = [];
  for (let i = 0; i < 5; i++) {
    pauses.push(clock.pending()[0]!);
    await clock.advance(clock.pending()[0]!);
    assert.deepEqual(collector.requests.map((r) => r.body), ['a'], 'one probe, the oldest');
    collector.next(UNAVAILABLE);
    await settle();
  }
  assert.deepEqual(pauses, [2000, 4000, 5000, 5000, 5000], 'exponential, capped at the maximum');
  await clock.advance(clock.pending()[0]!);
  collector.next();
  await settle();
  assert.deepEqual(collector.requests.map((r) => r.body), ['b', 'c', 'd', 'e'], 'the rest at full concurrency');
  for (let i = 0; i < 4; i++) collector.next();
  await settle();
  assert.deepEqual(delivered, ['a', 'b', 'c', 'd', 'e']);
  assert.deepEqual(lost, []);
});

test('createDeliveryQueue() pauses with jitter within the configured bounds', async () => {
  const pausesWith = async (random: number) => {
    const { clock, collector, add } = setup({ jitter: 0.2, random: () => random });
    add('a');
    collector.next(UNAVAILABLE);
    await settle();
    return clock.pending()[0];
  };
  assert.equal(await pausesWith(0), 800);
  assert.equal(await pausesWith(0.5), 1000);
  assert.ok(Math.abs((await pausesWith(0.999999))! - 1200) < 0.001);
});

test('createDeliveryQueue() waits as long as Retry-After says, even past the maximum backoff', async () => {
  const { clock, collector, delivered, add } = setup();
  add('a');
  collector.next({ ...UNAVAILABLE, retryInMillis: 30_000 });
  await settle();
  assert.deepEqual(clock.pending(), [30_000]);
  await clock.advance(29_999);
  assert.equal(collector.requests.length, 0);
  await clock.advance(1);
  collector.next();
  await settle();
  assert.deepEqual(delivered, ['a']);
});

test('createDeliveryQueue() drops a request the collector refuses for good, and goes on without pausing', async () => {
  const { clock, collector, delivered, lost, add } = setup({ concurrency: 1 });
  add('a', 3);
  add('b');
  collector.next(BAD_REQUEST);
  await settle();
  assert.deepEqual(clock.pending(), []);
  collector.next();
  await settle();
  assert.deepEqual(delivered, ['b']);
  assert.deepEqual(lost, [{
    body: 'a',
    count: 3,
    reason: 'the collector at http://collector/v1/traces answered 400 Bad Request',
    errorType: '400',
    atClose: false,
  }]);
});

test('createDeliveryQueue() drops the oldest waiting request of any queue sharing the bound, and counts it', async () => {
  const budget = createDeliveryBudget(10);
  const traces = setup({ budget, concurrency: 1 });
  const logs = setup({ budget, concurrency: 1 });
  traces.add('aaaa', 4); // in flight
  traces.collector.next(UNAVAILABLE); // back to waiting: the oldest
  await settle();
  logs.add('bbb', 3); // in flight
  logs.add('cc', 2); // waiting
  assert.equal(budget.heldBytes, 9);
  logs.add('ddd', 3); // 12 > 10: the oldest waiting one, traces' aaaa, goes
  assert.deepEqual(traces.lost, [{
    body: 'aaaa',
    count: 4,
    reason:
      'the 10-byte outage buffer (ROLLDICE_OTLP_BUFFER_BYTES) was full; last attempt: the collector at http://collector/v1/traces answered 503 Service Unavailable',
    errorType: '503',
    atClose: false,
  }]);
  assert.equal(budget.heldBytes, 8);
  logs.add('eeee', 4); // 12 > 10: cc goes, never sent
  assert.deepEqual(logs.lost.map(({ body, errorType }) => [body, errorType]), [['cc', 'buffer_full']]);
  assert.equal(budget.heldBytes, 10);
  assert.equal(logs.add('fffffffffff', 11), false, 'what cannot fit beside what is in flight is refused');
  assert.deepEqual(logs.lost.map(({ body }) => body), ['cc', 'ddd', 'eeee', 'fffffffffff']);
});

test('createDeliveryQueue() takes a request bigger than the whole bound when it holds nothing else', () => {
  const { collector, add } = setup({ budget: createDeliveryBudget(2) });
  assert.equal(add('abc'), true);
  assert.equal(collector.requests.length, 1);
});

test('createDeliveryQueue() flush() sends at once through its own backoff, and gives each attempt half of the time left', async () => {
  const { clock, collector, queue, delivered, add } = setup();
  add('a');
  collector.next(UNAVAILABLE);
  await settle();
  assert.deepEqual(clock.pending(), [1000]);
  const flushed = queue.flush(3000);
  await settle();
  assert.equal(collector.requests.length, 1, 'the backoff was cut short');
  assert.equal(collector.requests[0]!.timeoutMillis, 1500);
  collector.next();
  assert.equal(await flushed, true);
  assert.deepEqual(delivered, ['a']);
});

test('createDeliveryQueue() flush() keeps a pause the collector asked for', async () => {
  const { clock, collector, queue, add } = setup();
  add('a');
  collector.next({ ...UNAVAILABLE, retryInMillis: 2000 });
  await settle();
  const flushed = queue.flush(5000);
  await settle();
  assert.equal(collector.requests.length, 0);
  await clock.advance(2000);
  assert.equal(collector.requests.length, 1);
  collector.next();
  assert.equal(await flushed, true);
});

test('createDeliveryQueue() flush() gives up waiting at its deadline and keeps what is left for later', async () => {
  const { clock, collector, queue, lost, delivered, add } = setup();
  add('a');
  const flushed = queue.flush(1000);
  await clock.advance(1000); // the request, abandoned at 500 ms, waits out its backoff
  assert.equal(await flushed, false);
  assert.equal(queue.heldItems, 1);
  await clock.advance(500);
  collector.next();
  await settle();
  assert.deepEqual(delivered, ['a']);
  assert.deepEqual(lost, []);
});

test('createDeliveryQueue() close() delivers what it can in its time, then counts the rest as lost at close, with why', async () => {
  const { clock, collector, queue, lost, delivered, add } = setup({ concurrency: 1 });
  add('a', 5);
  add('b', 7);
  collector.next();
  await settle();
  collector.next(UNAVAILABLE); // b: back to waiting
  await settle();
  add('c', 2);
  const closed = queue.close(3000);
  await settle();
  assert.equal(add('d', 1), false, 'a closing queue takes nothing more');
  assert.deepEqual(collector.requests.map((r) => r.body), ['b'], 'the backoff was cut short');
  await clock.advance(3000);
  await closed;
  assert.equal(collector.aborted(), 1, 'the request in flight was aborted');
  assert.deepEqual(delivered, ['a']);
  const reason = 'the collector at http://collector/v1/traces answered 503 Service Unavailable';
  assert.deepEqual(lost, [
    {
      body: 'd',
      count: 1,
      reason: 'the exporter to http://collector/v1/traces is shut down',
      errorType: 'shutdown',
      atClose: false,
    },
    { body: 'c', count: 2, reason, errorType: 'shutdown', atClose: true },
    { body: 'b', count: 7, reason, errorType: '503', atClose: true },
  ]);
  assert.equal(queue.heldItems, 0);
});

test('createDeliveryQueue() close() abandons a request that hangs, sent before or during it, in time to send it again', async () => {
  const { clock, collector, queue, delivered, lost, add } = setup();
  add('a');
  assert.equal(collector.requests[0]!.timeoutMillis, 10_000, 'sent before close()');
  const closed = queue.close(4000);
  await clock.advance(2000); // abandoned at half of the time left
  assert.equal(collector.requests.length, 0);
  await clock.advance(1000); // the backoff
  assert.equal(collector.requests[0]!.timeoutMillis, 500, 'sent again, with half of the time left');
  collector.next();
  await closed;
  assert.deepEqual(delivered, ['a']);
  assert.deepEqual(lost, []);
});
