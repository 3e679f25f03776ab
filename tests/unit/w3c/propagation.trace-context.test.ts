/**
 * W3C Trace Context Level 2 through the service's real path, the way the W3C test suite
 * (w3c/trace-context test/test.py) checks it: a request with trace context headers reaches
 * createApp(), whose roll calls an upstream; the headers of that outgoing call are what the
 * service propagated. The upstream is a stub fetch, so this runs the same on every runtime.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { context, ProxyTracerProvider, ROOT_CONTEXT, type SpanContext, SpanKind, trace } from '@opentelemetry/api';
import { suppressTracing, TraceState as CoreTraceState } from '@opentelemetry/core';
import { createApp } from '../../../src/service/app.ts';
import { createInstrumentedFetch } from '../../../src/http/client.ts';
import { createW3CPropagator, W3CTraceState } from '../../../src/w3c/propagation.ts';
import { createTestTelemetry } from '../../_telemetry.ts';

const T = '12345678901234567890123456789012';
const P = '1234567890123456';
const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

type HeaderLines = [string, string][];

interface Outcome {
  /** The traceparent the service sent on, split. */
  traceId: string;
  parentId: string;
  flags: string;
  tracestate: string | null;
  telemetry: ReturnType<typeof createTestTelemetry>;
}

/** Sends one request with these header lines and returns what the service sent upstream. */
async function roundTrip(lines: HeaderLines): Promise<Outcome> {
  const telemetry = createTestTelemetry();
  const outgoing: Headers[] = [];
  const app = createApp(telemetry, {
    upstream: 'http://upstream.test:8080',
    fetch: ((_input: RequestInfo | URL, init?: RequestInit) => {
      outgoing.push(new Headers(init?.headers));
      return Promise.resolve(new Response('4\n'));
    }) as typeof fetch,
  });
  const response = await app(new Request('http://localhost:8080/rolldice/Alice', { headers: new Headers(lines) }));
  assert.equal(response.status, 200);
  assert.equal(await response.text(), '4\n');
  assert.equal(outgoing.length, 1);
  const traceparent = outgoing[0]!.get('traceparent') ?? '';
  const match = TRACEPARENT.exec(traceparent);
  assert.ok(match, `the service sent a valid version 00 traceparent, got ${JSON.stringify(traceparent)}`);
  return {
    traceId: match[1]!,
    parentId: match[2]!,
    flags: match[3]!,
    tracestate: outgoing[0]!.get('tracestate'),
    telemetry,
  };
}

// Cases from test.py and the spec's versioning rules: each continues the incoming trace.
const CONTINUED: { name: string; lines: HeaderLines; flags?: string }[] = [
  { name: 'a sampled version 00 header', lines: [['traceparent', `00-${T}-${P}-01`]] },
  { name: 'an unsampled version 00 header', lines: [['traceparent', `00-${T}-${P}-00`]], flags: '00' },
  { name: 'the header name in mixed case', lines: [['TrAcEpArEnT', `00-${T}-${P}-01`]] },
  { name: 'the header name in upper case', lines: [['TRACEPARENT', `00-${T}-${P}-01`]] },
  { name: 'leading space', lines: [['traceparent', ` 00-${T}-${P}-01`]] },
  { name: 'leading tab', lines: [['traceparent', `\t00-${T}-${P}-01`]] },
  { name: 'trailing space', lines: [['traceparent', `00-${T}-${P}-01 `]] },
  { name: 'spaces and tabs around', lines: [['traceparent', `\t 00-${T}-${P}-01 \t`]] },
  { name: 'future version cc', lines: [['traceparent', `cc-${T}-${P}-01`]] },
  {
    name: 'future version cc with more fields',
    lines: [['traceparent', `cc-${T}-${P}-01-what-the-future-will-be-like`]],
  },
  { name: 'version 01 with more fields', lines: [['traceparent', `01-${T}-${P}-01-00`]] },
  { name: 'flags with unknown bits set', lines: [['traceparent', `00-${T}-${P}-ff`]], flags: '03' },
  { name: 'the random flag alone (not sampled)', lines: [['traceparent', `00-${T}-${P}-02`]], flags: '02' },
  { name: 'the sampled and random flags', lines: [['traceparent', `00-${T}-${P}-03`]], flags: '03' },
];

for (const c of CONTINUED) {
  test(`createW3CPropagator() continues the trace of ${c.name}`, async () => {
    const out = await roundTrip(c.lines);
    assert.equal(out.traceId, T);
    assert.notEqual(out.parentId, P, "the parent-id is the service's own span");
    // The parent-based sampler honours the sampled flag; the random flag travels with the
    // trace id (src/random-flag.ts); unknown bits are not sent on.
    assert.equal(out.flags, c.flags ?? '01');
  });
}

const UPPER_T = '4BF92F3577B34DA6A3CE929D0E0E4736';
// Cases that must restart the trace: a new trace-id, and nothing of the tracestate sent.
const RESTARTED: { name: string; lines: HeaderLines }[] = [
  { name: 'version ff', lines: [['traceparent', `ff-${T}-${P}-01`]] },
  { name: 'trailing characters after a version 00 header', lines: [['traceparent', `00-${T}-${P}-01.`]] },
  {
    name: 'more fields after a version 00 header',
    lines: [['traceparent', `00-${T}-${P}-01-what-the-future-will-be-like`]],
  },
  {
    name: 'a future version not followed by a dash',
    lines: [['traceparent', `cc-${T}-${P}-01.what-the-future-will-be-like`]],
  },
  { name: 'an illegal first character in the version', lines: [['traceparent', `.0-${T}-${P}-01`]] },
  { name: 'an illegal second character in the version', lines: [['traceparent', `0.-${T}-${P}-01`]] },
  { name: 'a three-digit version', lines: [['traceparent', `000-${T}-${P}-01`]] },
  { name: 'a four-digit version', lines: [['traceparent', `0000-${T}-${P}-01`]] },
  { name: 'a one-digit version', lines: [['traceparent', `0-${T}-${P}-01`]] },
  { name: 'an upper-case version', lines: [['traceparent', `CC-${T}-${P}-01`]] },
  { name: 'an all-zero trace-id', lines: [['traceparent', `00-${'0'.repeat(32)}-${P}-01`]] },
  { name: 'an illegal first character in the trace-id', lines: [['traceparent', `00-.${T.slice(1)}-${P}-01`]] },
  { name: 'an illegal last character in the trace-id', lines: [['traceparent', `00-${T.slice(0, -1)}.-${P}-01`]] },
  { name: 'a 33-digit trace-id', lines: [['traceparent', `00-${T}3-${P}-01`]] },
  { name: 'a 31-digit trace-id', lines: [['traceparent', `00-${T.slice(1)}-${P}-01`]] },
  { name: 'an upper-case trace-id', lines: [['traceparent', `00-${UPPER_T}-${P}-01`]] },
  { name: 'an all-zero parent-id', lines: [['traceparent', `00-${T}-${'0'.repeat(16)}-01`]] },
  { name: 'an illegal first character in the parent-id', lines: [['traceparent', `00-${T}-.${P.slice(1)}-01`]] },
  { name: 'an illegal last character in the parent-id', lines: [['traceparent', `00-${T}-${P.slice(0, -1)}.-01`]] },
  { name: 'a 17-digit parent-id', lines: [['traceparent', `00-${T}-${P}7-01`]] },
  { name: 'a 15-digit parent-id', lines: [['traceparent', `00-${T}-${P.slice(1)}-01`]] },
  { name: 'an upper-case parent-id', lines: [['traceparent', `00-${T}-00F067AA0BA902B7-01`]] },
  { name: 'an illegal first character in the flags', lines: [['traceparent', `00-${T}-${P}-.0`]] },
  { name: 'an illegal second character in the flags', lines: [['traceparent', `00-${T}-${P}-0.`]] },
  { name: 'three-digit flags', lines: [['traceparent', `00-${T}-${P}-001`]] },
  { name: 'one-digit flags', lines: [['traceparent', `00-${T}-${P}-1`]] },
  { name: 'a future version shorter than 55 characters', lines: [['traceparent', `cc-${T}-${P}-1`]] },
  { name: 'a no-break space before it (not optional whitespace)', lines: [['traceparent', `\u00a000-${T}-${P}-01`]] },
  {
    name: 'two traceparent header lines',
    lines: [['traceparent', `00-${T.slice(0, -1)}1-${P}-01`], ['traceparent', `00-${T}-${P}-01`]],
  },
  {
    name: 'two traceparent header lines of a future version with more fields',
    lines: [['traceparent', `cc-${T}-${P}-01-a`], ['traceparent', `cc-${T}-${P}-01-b`]],
  },
  { name: 'the header name trace-parent', lines: [['trace-parent', `00-${T}-${P}-01`]] },
  { name: 'the header name trace.parent', lines: [['trace.parent', `00-${T}-${P}-01`]] },
  { name: 'tracestate without traceparent', lines: [['tracestate', 'foo=1,bar=2']] },
];

for (const c of RESTARTED) {
  test(`createW3CPropagator() restarts the trace on ${c.name}`, async () => {
    const out = await roundTrip([...c.lines, ['tracestate', 'congo=t61rcWkgMzE']]);
    assert.notEqual(out.traceId, T);
    assert.notEqual(out.traceId, T.slice(0, -1) + '1');
    assert.notEqual(out.parentId, P);
    assert.equal(out.tracestate, null, 'a tracestate is not parsed without a valid traceparent');
    assert.equal(out.flags, '03', 'a new trace is sampled, and its random trace-id says so');
    const server = out.telemetry.spans().find((s) => s.kind === SpanKind.SERVER)!;
    assert.equal(server.parentSpanContext, undefined);
  });
}

const KEY_CHARS = 'abcdefghijklmnopqrstuvwxyz0123456789_-*/';
const VALUE_CHARS = ' !"#$%&\'()*+-./0123456789:;<>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[\\]^_`abcdefghijklmnopqrstuvwxyz{|}~';
const members = (from: number, to: number) =>
  Array.from(
    { length: to - from + 1 },
    (_, i) => `bar${String(from + i).padStart(2, '0')}=${String(from + i).padStart(2, '0')}`,
  );
const longMember = `long=${'v'.repeat(150)}`;
const small = Array.from(
  { length: 30 },
  (_, i) => `k${String(i).padStart(2, '0')}=value-${String(i).padStart(5, '0')}`,
);

// What the service sends on for a tracestate, with a valid, sampled traceparent.
const TRACESTATE: { name: string; lines: string[]; sent: string | null }[] = [
  { name: 'keeps the members in order', lines: ['foo=1,bar=2'], sent: 'foo=1,bar=2' },
  {
    name: 'combines several header lines in order',
    lines: ['foo=1,bar=2', 'rojo=1,congo=2', 'baz=3'],
    sent: 'foo=1,bar=2,rojo=1,congo=2,baz=3',
  },
  { name: 'sends no tracestate for an empty header', lines: [''], sent: null },
  { name: 'ignores an empty header line after another', lines: ['foo=1', ''], sent: 'foo=1' },
  { name: 'ignores an empty header line before another', lines: ['', 'foo=1'], sent: 'foo=1' },
  {
    name: 'ignores spaces and tabs around members',
    lines: ['foo=1 \t , \t bar=2, \t baz=3'],
    sent: 'foo=1,bar=2,baz=3',
  },
  { name: 'ignores empty members', lines: ['foo=1,,  ,bar=2'], sent: 'foo=1,bar=2' },
  { name: 'keeps leading spaces of a value', lines: ['foo=  1'], sent: 'foo=  1' },
  {
    name: 'takes every allowed character',
    lines: [`${KEY_CHARS}=${VALUE_CHARS}`],
    sent: `${KEY_CHARS}=${VALUE_CHARS}`,
  },
  {
    name: 'takes a multi-tenant key',
    lines: [`${KEY_CHARS}@a-z0-9_-*/=${VALUE_CHARS}`],
    sent: `${KEY_CHARS}@a-z0-9_-*/=${VALUE_CHARS}`,
  },
  {
    name: 'takes keys with @ anywhere but first (Level 2)',
    lines: ['foo@=1,foo@@bar=2,foo@bar@baz=3'],
    sent: 'foo@=1,foo@@bar=2,foo@bar@baz=3',
  },
  { name: 'takes a key that starts with a digit', lines: ['1foo=1'], sent: '1foo=1' },
  { name: 'takes a 256-character key', lines: ['foo=1', `${'z'.repeat(256)}=1`], sent: `foo=1,${'z'.repeat(256)}=1` },
  { name: 'discards the whole list for a 257-character key', lines: ['foo=1', `${'z'.repeat(257)}=1`], sent: null },
  {
    name: 'takes a long tenant before @',
    lines: ['foo=1', `${'t'.repeat(242)}@v=1`],
    sent: `foo=1,${'t'.repeat(242)}@v=1`,
  },
  {
    name: 'takes a long system after @',
    lines: ['foo=1', `t@${'v'.repeat(15)}=1`],
    sent: `foo=1,t@${'v'.repeat(15)}=1`,
  },
  // Any invalid member, a repeated key or a 33rd member: the whole list is discarded.
  { name: 'discards the whole list for a key starting with @', lines: ['@foo=1,bar=2'], sent: null },
  { name: 'discards the whole list for a key with a space', lines: ['foo =1,bar=2'], sent: null },
  { name: 'discards the whole list for an upper-case key', lines: ['FOO=1,bar=2'], sent: null },
  { name: 'discards the whole list for a key with a dot', lines: ['foo.bar=1,bar=2'], sent: null },
  { name: 'discards the whole list for a value with =', lines: ['foo=bar=baz,bar=2'], sent: null },
  { name: 'discards the whole list for an empty value', lines: ['foo=,bar=3'], sent: null },
  { name: 'discards the whole list for a member without =', lines: ['foo,bar=3'], sent: null },
  { name: 'discards the whole list for a value with a control character', lines: ['foo=1\u000b,bar=2'], sent: null },
  { name: 'takes a 256-character value', lines: [`foo=${'v'.repeat(256)}`], sent: `foo=${'v'.repeat(256)}` },
  { name: 'discards the whole list for a 257-character value', lines: [`foo=${'v'.repeat(257)},bar=2`], sent: null },
  { name: 'discards the whole list for a repeated key', lines: ['foo=1,bar=2,foo=3'], sent: null },
  { name: 'discards the whole list for a key repeated across lines', lines: ['foo=1', 'foo=1'], sent: null },
  {
    name: 'discards the whole list for an invalid member in a later line',
    lines: ['foo=1', 'bar=2,BAZ=3'],
    sent: null,
  },
  {
    name: 'takes 32 members',
    lines: [members(1, 10).join(','), members(11, 20).join(','), members(21, 32).join(',')],
    sent: members(1, 32).join(','),
  },
  {
    name: 'discards the whole list for 33 members',
    lines: [members(1, 20).join(','), members(21, 33).join(',')],
    sent: null,
  },
  {
    name: 'does not count empty members among the 32',
    lines: [members(1, 32).join(',') + ',, ,'],
    sent: members(1, 32).join(','),
  },
  {
    name: 'truncates over 512 characters, members over 128 first',
    lines: [[longMember, ...small].join(',')],
    sent: small.join(','),
  },
];

for (const c of TRACESTATE) {
  test(`createW3CPropagator() tracestate ${c.name}`, async () => {
    const out = await roundTrip([
      ['traceparent', `00-${T}-${P}-01`],
      ...c.lines.map((line): [string, string] => ['tracestate', line]),
    ]);
    assert.equal(out.traceId, T);
    assert.equal(out.tracestate, c.sent);
  });
}

test('createW3CPropagator() gives the server span the remote parent, its flags and tracestate', async () => {
  const out = await roundTrip([['traceparent', `cc-${T}-${P}-01-future`], [
    'tracestate',
    'rojo=00f067aa0ba902b7, congo=t61rcWkgMzE',
  ]]);
  const server = out.telemetry.span('GET /rolldice/{player}');
  assert.equal(server.spanContext().traceId, T);
  assert.equal(server.parentSpanContext?.spanId, P);
  assert.equal(server.parentSpanContext?.isRemote, true);
  assert.equal(server.parentSpanContext?.traceFlags, 1);
  assert.equal(server.spanContext().traceState?.serialize(), 'rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
  const client = out.telemetry.spans().find((s) => s.kind === SpanKind.CLIENT)!;
  assert.equal(out.parentId, client.spanContext().spanId, 'the upstream sees the client span as its parent');
});

test('createW3CPropagator() honours an unset sampled flag: nothing recorded, the trace still carried on', async () => {
  const out = await roundTrip([['traceparent', `00-${T}-${P}-00`], ['tracestate', 'congo=t61rcWkgMzE']]);
  assert.equal(out.telemetry.spans().length, 0);
  assert.equal(out.flags, '00');
  assert.equal(out.tracestate, 'congo=t61rcWkgMzE');
  // The roll is still logged, with the incoming trace's id.
  assert.equal(out.telemetry.logs.getFinishedLogRecords()[0]!.spanContext?.traceId, T);
});

/** What createInstrumentedFetch() sends for a given active span context, without an SDK. */
async function injected(spanContext: SpanContext | undefined, suppress = false): Promise<Headers> {
  let sent: Headers | undefined;
  const tracedFetch = createInstrumentedFetch({
    tracerProvider: new ProxyTracerProvider(), // no SDK: the active context is sent on as it is
    propagator: createW3CPropagator(),
    fetch: ((_input: RequestInfo | URL, init?: RequestInit) => {
      sent = new Headers(init?.headers);
      return Promise.resolve(new Response('ok'));
    }) as typeof fetch,
  });
  let active = spanContext === undefined ? ROOT_CONTEXT : trace.setSpanContext(ROOT_CONTEXT, spanContext);
  if (suppress) active = suppressTracing(active);
  await context.with(active, () => tracedFetch('http://upstream.test/'));
  return sent!;
}

const remote = (traceFlags: number, traceState?: SpanContext['traceState']): SpanContext => ({
  traceId: T,
  spanId: P,
  traceFlags,
  isRemote: true,
  ...(traceState === undefined ? {} : { traceState }),
});

const INJECTED: {
  name: string;
  context: SpanContext | undefined;
  traceparent: string | null;
  tracestate: string | null;
  suppress?: boolean;
}[] = [
  { name: 'sampled', context: remote(0x01), traceparent: `00-${T}-${P}-01`, tracestate: null },
  { name: 'not sampled', context: remote(0x00), traceparent: `00-${T}-${P}-00`, tracestate: null },
  { name: 'unknown flags set to 0', context: remote(0xff), traceparent: `00-${T}-${P}-03`, tracestate: null },
  { name: 'a flag above 0x0f as two digits', context: remote(0x11), traceparent: `00-${T}-${P}-01`, tracestate: null },
  {
    name: 'the tracestate',
    context: remote(0x01, W3CTraceState.parse('rojo=1,congo=2')),
    traceparent: `00-${T}-${P}-01`,
    tracestate: 'rojo=1,congo=2',
  },
  {
    name: 'no empty tracestate',
    context: remote(0x01, W3CTraceState.parse('FOO=1')),
    traceparent: `00-${T}-${P}-01`,
    tracestate: null,
  },
  {
    name: 'a TraceState of core',
    context: remote(0x01, new CoreTraceState('rojo=1').set('congo', '2')),
    traceparent: `00-${T}-${P}-01`,
    tracestate: 'congo=2,rojo=1',
  },
  { name: 'nothing without a span context', context: undefined, traceparent: null, tracestate: null },
  {
    name: 'nothing for an invalid span context',
    context: { ...remote(0x01), traceId: '0'.repeat(32) },
    traceparent: null,
    tracestate: null,
  },
  {
    name: 'nothing when tracing is suppressed',
    context: remote(0x01),
    traceparent: null,
    tracestate: null,
    suppress: true,
  },
];

for (const c of INJECTED) {
  test(`createW3CPropagator() injects ${c.name}`, async () => {
    const headers = await injected(c.context, c.suppress);
    assert.equal(headers.get('traceparent'), c.traceparent);
    assert.equal(headers.get('tracestate'), c.tracestate);
  });
}

test('W3CTraceState set() moves a member to the front, unset() removes it, both within 32 members', () => {
  const state = W3CTraceState.parse(members(1, 32).join(','));
  const updated = state.set('bar05', 'new');
  assert.equal(updated.serialize().split(',')[0], 'bar05=new');
  assert.equal(updated.serialize().split(',').length, 32);
  const added = state.set('fresh', 'x');
  assert.deepEqual(added.serialize().split(','), ['fresh=x', ...members(1, 31)]);
  assert.equal(state.set('BAD', 'x'), state, 'an invalid key changes nothing');
  assert.equal(state.unset('bar01').get('bar01'), undefined);
  assert.equal(state.get('bar01'), '01', 'the original is unchanged');
});
