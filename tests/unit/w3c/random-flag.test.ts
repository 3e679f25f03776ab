/**
 * W3C Trace Context Level 2's random flag on the spans the service makes (src/random-flag.ts):
 * kept from a parent that has it, set on a new trace, on recording and non-recording spans
 * alike, and present in what is exported and what is injected downstream.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  context,
  INVALID_SPAN_CONTEXT,
  ROOT_CONTEXT,
  type Span,
  type SpanContext,
  trace,
  TraceFlags,
} from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import {
  AlwaysOnSampler,
  InMemorySpanExporter,
  ParentBasedSampler,
  SimpleSpanProcessor,
  TracerProvider,
} from '@opentelemetry/sdk-trace';
import { createW3CPropagator } from '../../../src/w3c/propagation.ts';
import { RANDOM_TRACE_FLAG, tracerProviderWithRandomFlag } from '../../../src/w3c/random-flag.ts';
import { registerContextManager } from '../../../src/sdk/context.ts';

const T = '0af7651916cd43dd8448eb211c80319c';
const P = 'b7ad6b7169203331';

function setup() {
  registerContextManager();
  const exporter = new InMemorySpanExporter();
  const sdk = new TracerProvider({
    sampler: new ParentBasedSampler({ root: new AlwaysOnSampler() }),
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  const tracer = tracerProviderWithRandomFlag(sdk).getTracer('test');
  return { tracer, exporter };
}

const remoteParent = (traceFlags: number): SpanContext => ({ traceId: T, spanId: P, traceFlags, isRemote: true });
const under = (parent: SpanContext) => trace.setSpanContext(ROOT_CONTEXT, parent);

/** The traceparent a downstream call made in `span`'s context would carry. */
function injected(span: Span): string | undefined {
  const carrier: Record<string, string> = {};
  createW3CPropagator().inject(trace.setSpan(ROOT_CONTEXT, span), carrier, {
    set: (c, k, v) => (c[k] = v),
  });
  return carrier.traceparent;
}

test('a new trace carries the random flag, with the sampled flag', () => {
  const { tracer, exporter } = setup();
  const span = tracer.startSpan('root', {}, ROOT_CONTEXT);
  span.end();
  assert.equal(span.spanContext().traceFlags, TraceFlags.SAMPLED | RANDOM_TRACE_FLAG);
  assert.match(injected(span)!, /^00-[0-9a-f]{32}-[0-9a-f]{16}-03$/);
  assert.equal(exporter.getFinishedSpans()[0]!.spanContext().traceFlags, 0x03, 'exported with both flags');
});

test('a span continuing a random, sampled trace keeps the random flag', () => {
  const { tracer } = setup();
  const span = tracer.startSpan('child', {}, under(remoteParent(0x03)));
  assert.equal(span.spanContext().traceId, T);
  assert.equal(injected(span), `00-${T}-${span.spanContext().spanId}-03`);
});

test('a span continuing a trace without the random flag does not claim it', () => {
  const { tracer } = setup();
  const span = tracer.startSpan('child', {}, under(remoteParent(0x01)));
  assert.equal(span.spanContext().traceFlags, TraceFlags.SAMPLED);
});

test('a non-recording span under an unsampled random parent passes the random flag on', () => {
  const { tracer, exporter } = setup();
  const span = tracer.startSpan('child', {}, under(remoteParent(RANDOM_TRACE_FLAG)));
  span.end();
  assert.equal(span.isRecording(), false);
  assert.equal(injected(span), `00-${T}-${span.spanContext().spanId}-02`);
  assert.equal(exporter.getFinishedSpans().length, 0);
});

test('a root span asked for with root: true starts a new random trace, whatever the parent', () => {
  const { tracer } = setup();
  const span = tracer.startSpan('root', { root: true }, under(remoteParent(0x01)));
  assert.notEqual(span.spanContext().traceId, T);
  assert.equal(span.spanContext().traceFlags, 0x03);
});

test('with tracing suppressed, the invalid span context the SDK shares is left alone', () => {
  const { tracer } = setup();
  const span = tracer.startSpan('suppressed', {}, suppressTracing(under(remoteParent(0x03))));
  assert.equal(span.isRecording(), false);
  assert.equal(span.spanContext().traceFlags, TraceFlags.NONE);
  assert.equal(INVALID_SPAN_CONTEXT.traceFlags, TraceFlags.NONE);
  assert.equal(injected(span), undefined, 'nothing to propagate');
});

test('startActiveSpan() in all three forms sets the flag and makes the span active', () => {
  const { tracer } = setup();
  const parent = under(remoteParent(0x03));
  const seen: [number, boolean][] = [];
  const check = (span: Span) => {
    seen.push([span.spanContext().traceFlags, trace.getActiveSpan() === span]);
    span.end();
  };
  context.with(parent, () => tracer.startActiveSpan('a', check));
  context.with(parent, () => tracer.startActiveSpan('b', {}, check));
  tracer.startActiveSpan('c', {}, parent, check);
  assert.deepEqual(seen, [[0x03, true], [0x03, true], [0x03, true]]);
});

test('startActiveSpan() returns what its callback returns', async () => {
  const { tracer } = setup();
  const value = await tracer.startActiveSpan('async', (span) => {
    span.end();
    return Promise.resolve(42);
  });
  assert.equal(value, 42);
});
