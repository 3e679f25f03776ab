import assert from 'node:assert/strict';
import { test } from 'node:test';
import { createLossReporter } from '../../../src/otlp/loss-reporter.ts';

function fakeClock() {
  let now = 0;
  const timers: { at: number; fn: () => void; cancelled: boolean }[] = [];
  return {
    now: () => now,
    setTimer: (fn: () => void, millis: number) => {
      const timer = { at: now + millis, fn, cancelled: false };
      timers.push(timer);
      return () => void (timer.cancelled = true);
    },
    /** Moves the clock and fires the timers that are due. */
    advance(millis: number) {
      now += millis;
      for (const timer of timers.filter((t) => !t.cancelled && t.at <= now)) {
        timer.cancelled = true;
        timer.fn();
      }
    },
    timers,
  };
}

test('createLossReporter() reports the first loss at once, then sums per interval', () => {
  const clock = fakeClock();
  const reports: string[] = [];
  const losses = createLossReporter({
    noun: ['span', 'spans'],
    intervalMillis: 10_000,
    ...clock,
    report: (m) => reports.push(m),
  });
  losses.record(1, 'the collector answered 503');
  assert.deepEqual(reports, ['Dropped 1 span: the collector answered 503']);
  clock.advance(3000);
  losses.record(5, 'the collector answered 503');
  clock.advance(3000);
  losses.record(2, 'the collector did not answer');
  losses.record(0, 'nothing');
  assert.equal(reports.length, 1);
  assert.equal(clock.timers.length, 1);
  clock.advance(3999);
  assert.equal(reports.length, 1);
  clock.advance(1);
  assert.deepEqual(reports.slice(1), [
    'Dropped 7 spans: 5 as the collector answered 503; 2 as the collector did not answer',
  ]);
  clock.advance(60_000);
  assert.equal(reports.length, 2, 'nothing to report, nothing said');
  losses.record(4, 'the collector answered 503');
  assert.deepEqual(
    reports.slice(2),
    ['Dropped 4 spans: the collector answered 503'],
    'a quiet interval later: at once',
  );
});

test('createLossReporter() flush() reports what is pending, then reports at once', () => {
  const clock = fakeClock();
  const reports: string[] = [];
  const losses = createLossReporter({ noun: ['log record', 'log records'], ...clock, report: (m) => reports.push(m) });
  losses.record(1, 'a');
  losses.record(2, 'a');
  losses.flush();
  assert.deepEqual(reports, ['Dropped 1 log record: a', 'Dropped 2 log records: a']);
  assert.equal(clock.timers[0]!.cancelled, true);
  losses.flush();
  losses.record(3, 'b');
  assert.deepEqual(reports.slice(2), ['Dropped 3 log records: b']);
});

test('createLossReporter() keeps a bounded number of distinct reasons', () => {
  const clock = fakeClock();
  const reports: string[] = [];
  const losses = createLossReporter({ noun: ['span', 'spans'], ...clock, report: (m) => reports.push(m) });
  losses.record(1, 'first');
  for (let i = 0; i < 20; i++) losses.record(1, `reason ${i}`);
  losses.flush();
  const summary = reports[1]!;
  assert.match(summary, /^Dropped 20 spans: /);
  assert.equal(summary.split('; ').length, 9, 'eight reasons and the rest');
  assert.match(summary, /; 12 as something else failed$/);
});
