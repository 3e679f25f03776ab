/** createInstrumentedFetch(): which URLs get the context, and which no span at all. */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { context, trace } from '@opentelemetry/api';
import { createInstrumentedFetch, createW3CPropagator, type InstrumentedFetchOptions } from '../../../mod.ts';
import { createTestTelemetry } from '../../_telemetry.ts';

/** A fetch that answers 200 and keeps the headers each request would have sent. */
function recordingFetch() {
  const sent: { url: string; headers: Headers }[] = [];
  const fetch = (input: RequestInfo | URL, init?: RequestInit) => {
    const url = input instanceof Request ? input.url : String(input);
    sent.push({ url, headers: new Headers(init?.headers ?? (input instanceof Request ? input.headers : undefined)) });
    return Promise.resolve(new Response('ok'));
  };
  return { sent, fetch: fetch as typeof globalThis.fetch };
}

async function send(urls: string[], options: InstrumentedFetchOptions) {
  const telemetry = { ...createTestTelemetry(), propagator: createW3CPropagator() };
  const { sent, fetch } = recordingFetch();
  const traced = createInstrumentedFetch({ ...telemetry, ...options, fetch });
  const parent = telemetry.tracerProvider.getTracer('test').startSpan('parent');
  await context.with(trace.setSpan(context.active(), parent), async () => {
    for (const url of urls) await traced(url);
  });
  parent.end();
  const clientSpans = telemetry.spans().filter((s) => s.name !== 'parent');
  return { sent, clientSpans, parent };
}

test('createInstrumentedFetch() sends the context to every URL by default', async () => {
  const { sent, clientSpans } = await send(['http://a.internal/x', 'https://third.party/y'], {});
  assert.equal(clientSpans.length, 2);
  for (const [i, request] of sent.entries()) {
    assert.match(request.headers.get('traceparent')!, new RegExp(`-${clientSpans[i]!.spanContext().spanId}-`));
  }
});

test('createInstrumentedFetch() sends the context only to the URLs propagateContextUrls lists, minus dontPropagateContextUrls', async () => {
  const { sent, clientSpans } = await send(
    ['http://a.internal/x', 'https://third.party/y', 'http://b.internal/z', 'http://a.internal/private'],
    { propagateContextUrls: ['http://a.internal/', /^http:\/\/b\./], dontPropagateContextUrls: [/\/private$/] },
  );
  assert.deepEqual(sent.map((r) => r.headers.has('traceparent')), [true, false, true, false]);
  assert.equal(clientSpans.length, 4, 'every request still gets its CLIENT span');
});

test('createInstrumentedFetch() leaves the URLs ignoreUrls lists alone: no span, no context, the request as given', async () => {
  const { sent, clientSpans } = await send(['http://a.internal/health', 'http://a.internal/x'], {
    ignoreUrls: ['http://a.internal/health'],
  });
  assert.equal(sent[0]!.headers.has('traceparent'), false);
  assert.equal(sent[1]!.headers.has('traceparent'), true);
  assert.deepEqual(clientSpans.map((s) => s.attributes['url.full']), ['http://a.internal/x']);
});
