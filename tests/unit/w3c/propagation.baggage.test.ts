/**
 * W3C Baggage through the service's real path: a request with `baggage` header lines reaches
 * createApp(), whose roll calls an upstream (a stub fetch); what the upstream call sees in its
 * context, and the `baggage` header it carries, are what the service understood and sent on.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  type BaggageEntry,
  baggageEntryMetadataFromString,
  context,
  propagation,
  ProxyTracerProvider,
  ROOT_CONTEXT,
} from '@opentelemetry/api';
import { suppressTracing } from '@opentelemetry/core';
import { createApp } from '../../../src/service/app.ts';
import { createInstrumentedFetch } from '../../../src/http/client.ts';
import { createW3CPropagator } from '../../../src/w3c/propagation.ts';
import { createTestTelemetry } from '../../_telemetry.ts';

/** [key, value] or [key, value, properties] as the service holds them. */
type Entry = [string, string] | [string, string, string];

function entriesOf(all: [string, BaggageEntry][] | undefined): Entry[] {
  return (all ?? []).map(([key, entry]) =>
    entry.metadata === undefined ? [key, entry.value] : [key, entry.value, entry.metadata.toString()]
  );
}

/** Sends one request with these baggage header lines; returns the entries and the header sent on. */
async function roundTrip(lines: string[]): Promise<{ entries: Entry[]; sent: string | null }> {
  const telemetry = createTestTelemetry();
  let entries: Entry[] = [];
  let sent: string | null = null;
  const app = createApp(telemetry, {
    upstream: 'http://upstream.test:8080',
    fetch: ((_input: RequestInfo | URL, init?: RequestInit) => {
      entries = entriesOf(propagation.getBaggage(context.active())?.getAllEntries());
      sent = new Headers(init?.headers).get('baggage');
      return Promise.resolve(new Response('2\n'));
    }) as typeof fetch,
  });
  const headers = new Headers(lines.map((line): [string, string] => ['baggage', line]));
  const response = await app(new Request('http://localhost:8080/rolldice/Alice', { headers }));
  assert.equal(response.status, 200);
  return { entries, sent };
}

const many = (count: number) => Array.from({ length: count }, (_, i) => `k${i}=v${i}`);
const big = (key: string, length: number) => `${key}=${'x'.repeat(length - key.length - 1)}`;

const CASES: { name: string; lines: string[]; entries: Entry[]; sent: string | null }[] = [
  {
    name: "reads the spec's single-header example",
    lines: ['userId=alice,serverNode=DF%2028,isProduction=false'],
    entries: [['userId', 'alice'], ['serverNode', 'DF 28'], ['isProduction', 'false']],
    sent: 'userId=alice,serverNode=DF%2028,isProduction=false',
  },
  {
    name: 'combines several header lines in order',
    lines: ['userId=alice', 'serverNode=DF%2028,isProduction=false'],
    entries: [['userId', 'alice'], ['serverNode', 'DF 28'], ['isProduction', 'false']],
    sent: 'userId=alice,serverNode=DF%2028,isProduction=false',
  },
  {
    name: 'trims spaces and tabs around keys and values',
    lines: ['userId =   alice', 'serverNode = DF%2028,\tisProduction = false'],
    entries: [['userId', 'alice'], ['serverNode', 'DF 28'], ['isProduction', 'false']],
    sent: 'userId=alice,serverNode=DF%2028,isProduction=false',
  },
  {
    name: 'keeps properties, without their optional whitespace',
    lines: ['key1=value1;property1;property2, key2 = value2, key3=value3; propertyKey = propertyValue'],
    entries: [['key1', 'value1', 'property1;property2'], ['key2', 'value2'], [
      'key3',
      'value3',
      'propertyKey=propertyValue',
    ]],
    sent: 'key1=value1;property1;property2,key2=value2,key3=value3;propertyKey=propertyValue',
  },
  {
    name: 'percent-decodes UTF-8 values',
    lines: ['name=Ren%C3%A9%20M'],
    entries: [['name', 'René M']],
    sent: 'name=Ren%C3%A9%20M',
  },
  { name: 'keeps = inside a value', lines: ['k=a=b'], entries: [['k', 'a=b']], sent: 'k=a%3Db' },
  { name: 'keeps an empty value', lines: ['k=,j=1'], entries: [['k', ''], ['j', '1']], sent: 'k=,j=1' },
  {
    name: 'takes keys as they are, without percent-decoding',
    lines: ['a%41=1'],
    entries: [['a%41', '1']],
    sent: 'a%41=1',
  },
  {
    name: 'sends any token key unchanged',
    lines: ["a#b$c&d'e+f^g`h|i~j!k*l=1"],
    entries: [["a#b$c&d'e+f^g`h|i~j!k*l", '1']],
    sent: "a#b$c&d'e+f^g`h|i~j!k*l=1",
  },
  { name: 'drops a key with a space', lines: ['a b=1,c=2'], entries: [['c', '2']], sent: 'c=2' },
  { name: 'drops a key with a separator', lines: ['(x)=1,c=2'], entries: [['c', '2']], sent: 'c=2' },
  { name: 'drops an empty key', lines: ['=1,c=2'], entries: [['c', '2']], sent: 'c=2' },
  { name: 'drops a value with a space inside', lines: ['a=x y,c=2'], entries: [['c', '2']], sent: 'c=2' },
  { name: 'drops a value with a double quote', lines: ['a="x",c=2'], entries: [['c', '2']], sent: 'c=2' },
  { name: 'drops a value with a backslash', lines: ['a=x\\y,c=2'], entries: [['c', '2']], sent: 'c=2' },
  { name: 'drops a malformed percent-encoding', lines: ['a=%zz,b=%E0%A4%A,c=2'], entries: [['c', '2']], sent: 'c=2' },
  { name: 'drops a member without =', lines: ['novalue,c=2'], entries: [['c', '2']], sent: 'c=2' },
  {
    name: 'drops a member with an invalid property',
    lines: ['a=1;p q,b=2;,c=2;ok'],
    entries: [['c', '2', 'ok']],
    sent: 'c=2;ok',
  },
  { name: 'ignores empty list members', lines: ['a=1,, ,b=2', ''], entries: [['a', '1'], ['b', '2']], sent: 'a=1,b=2' },
  {
    name: 'keeps the last of repeated keys',
    lines: ['k=1,j=2', 'k=3'],
    entries: [['j', '2'], ['k', '3']],
    sent: 'j=2,k=3',
  },
  {
    name: 'keeps the order of numeric keys',
    lines: ['b=1,2=x,a=3'],
    entries: [['b', '1'], ['2', 'x'], ['a', '3']],
    sent: 'b=1,2=x,a=3',
  },
  {
    name: 'keeps a __proto__ key',
    lines: ['__proto__=x,a=1'],
    entries: [['__proto__', 'x'], ['a', '1']],
    sent: '__proto__=x,a=1',
  },
  { name: 'sends nothing for a header of invalid members', lines: ['a b=1,c'], entries: [], sent: null },
  { name: 'sends nothing for an empty header', lines: [''], entries: [], sent: null },
  {
    name: "reads at least 64 members (the spec's minimum), up to 180",
    lines: [many(100).join(','), many(200).slice(100).join(',')],
    entries: many(180).map((m): Entry => m.split('=') as [string, string]),
    sent: many(180).join(','),
  },
  {
    name: 'reads at least 8192 bytes, whole members only',
    // 4000 + 1 + 4000 + 1 + 190 = 8192 bytes; the member after that would not fit.
    lines: [[big('a', 4000), big('b', 4000), big('c', 190), big('d', 3)].join(',')],
    entries: [['a', 'x'.repeat(3998)], ['b', 'x'.repeat(3998)], ['c', 'x'.repeat(188)]],
    sent: [big('a', 4000), big('b', 4000), big('c', 190)].join(','),
  },
  {
    name: 'keeps a member over 4096 bytes within 8192',
    lines: [big('a', 5000)],
    entries: [['a', 'x'.repeat(4998)]],
    sent: big('a', 5000),
  },
];

for (const c of CASES) {
  test(`createW3CPropagator() baggage ${c.name}`, async () => {
    const { entries, sent } = await roundTrip(c.lines);
    assert.deepEqual(entries, c.entries);
    assert.equal(sent, c.sent);
  });
}

test('createW3CPropagator() baggage reaches the upstream with or without a traceparent', async () => {
  const { sent } = await roundTrip(['player.tier=gold']);
  assert.equal(sent, 'player.tier=gold');
});

/** The baggage header createInstrumentedFetch() sends for baggage set by the application. */
async function sentFor(entries: Record<string, BaggageEntry>, suppress = false): Promise<string | null> {
  let sent: string | null = null;
  const tracedFetch = createInstrumentedFetch({
    tracerProvider: new ProxyTracerProvider(),
    propagator: createW3CPropagator(),
    fetch: ((_input: RequestInfo | URL, init?: RequestInit) => {
      sent = new Headers(init?.headers).get('baggage');
      return Promise.resolve(new Response('ok'));
    }) as typeof fetch,
  });
  let active = propagation.setBaggage(ROOT_CONTEXT, propagation.createBaggage(entries));
  if (suppress) active = suppressTracing(active);
  await context.with(active, () => tracedFetch('http://upstream.test/'));
  return sent;
}

const INJECTED: { name: string; entries: Record<string, BaggageEntry>; sent: string | null; suppress?: boolean }[] = [
  {
    name: 'percent-encodes values',
    entries: { name: { value: 'René M, "quoted"; x' } },
    sent: 'name=Ren%C3%A9%20M%2C%20%22quoted%22%3B%20x',
  },
  {
    name: 'leaves out keys that are not tokens rather than encoding them',
    entries: { 'my key': { value: '1' }, ok: { value: '2' } },
    sent: 'ok=2',
  },
  {
    name: 'sends valid properties',
    entries: { a: { value: '1', metadata: baggageEntryMetadataFromString(' p1 ; p2 = v ') } },
    sent: 'a=1;p1;p2=v',
  },
  {
    name: 'leaves out invalid properties, not the entry',
    entries: { a: { value: '1', metadata: baggageEntryMetadataFromString('not a property') } },
    sent: 'a=1',
  },
  {
    name: 'at most 8192 bytes, skipping what does not fit',
    entries: { a: { value: 'x'.repeat(6000) }, b: { value: 'x'.repeat(3000) }, c: { value: 'y' } },
    sent: `a=${'x'.repeat(6000)},c=y`,
  },
  { name: 'nothing for empty baggage', entries: {}, sent: null },
  { name: 'nothing when tracing is suppressed', entries: { a: { value: '1' } }, sent: null, suppress: true },
];

for (const c of INJECTED) {
  test(`createW3CPropagator() baggage injection ${c.name}`, async () => {
    assert.equal(await sentFor(c.entries, c.suppress), c.sent);
  });
}
