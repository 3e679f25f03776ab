import assert from 'node:assert/strict';
import { test } from 'node:test';
import { context, ROOT_CONTEXT, SeverityNumber, SpanKind, SpanStatusCode, trace, TraceFlags } from '@opentelemetry/api';
import { TraceState } from '@opentelemetry/core';
import { ProtobufLogsSerializer, ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import {
  InMemoryLogRecordExporter,
  LoggerProvider,
  type ReadableLogRecord,
  SimpleLogRecordProcessor,
} from '@opentelemetry/sdk-logs';
import { InMemorySpanExporter, type ReadableSpan, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import { BatchEncoder, type Encodable } from '../../../src/otlp/encoding-batch-processor.ts';
import { encodeLogRecord, encodeSpan, ProtoWriter } from '../../../src/otlp/protobuf-encoding.ts';
import { decodeExportRequest, flattenSpans } from '../../_otlp-decode.ts';

const resource = resourceFromAttributes(
  { 'service.name': 'rolldice-test', 'service.version': '1.2.3', 'host.cpu.count': 2, 'deployment.débug': true },
  { schemaUrl: 'https://opentelemetry.io/schemas/1.37.0' },
);
const otherResource = resourceFromAttributes({ 'service.name': 'other' });

/** Attribute values of every type an attribute can hold, ASCII and not. */
const EVERY_VALUE = {
  'str': 'value',
  'str.utf8': 'Zoë rolls 🎲 — ça marche',
  'str.empty': '',
  'bool.true': true,
  'bool.false': false,
  'int.zero': 0,
  'int.small': 6,
  'int.large': 2 ** 40 + 7,
  'int.max.safe': Number.MAX_SAFE_INTEGER,
  'int.negative': -1,
  'int.negative.large': -(2 ** 45) - 3,
  'double': 0.25,
  'double.negative': -1.5e-7,
  'double.nan': Number.NaN,
  'double.infinity': Number.POSITIVE_INFINITY,
  'array.str': ['a', 'béta', ''],
  'array.int': [1, -2, 3],
  'array.double': [1.5, 2.25],
  'array.bool': [true, false],
  'array.empty': [],
  [`long.${'k'.repeat(200)}`]: 'v'.repeat(20_000),
};

function encodeAll<T extends Encodable>(encoder: BatchEncoder<T>, items: T[]): Uint8Array {
  for (const item of items) encoder.add(item);
  return encoder.seal().bytes;
}

function makeSpans(): ReadableSpan[] {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const other = new TracerProvider({
    resource: otherResource,
    spanProcessors: [new SimpleSpanProcessor({ exporter })],
  });
  const server = provider.getTracer('rolldice/http-server', '0.1.0', {
    schemaUrl: 'https://opentelemetry.io/schemas/1.36.0',
  });
  const dice = provider.getTracer('rolldice');

  const remoteParent = trace.setSpanContext(ROOT_CONTEXT, {
    traceId: '0AF7651916CD43DD8448EB211C80319C'.toLowerCase(),
    spanId: 'b7ad6b7169203331',
    traceFlags: TraceFlags.SAMPLED | 0x02,
    isRemote: true,
    traceState: new TraceState('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE'),
  });
  const root = server.startSpan(
    'GET /rolldice/{player}',
    { kind: SpanKind.SERVER, attributes: EVERY_VALUE },
    remoteParent,
  );
  const child = dice.startSpan('roll', { attributes: { 'roll.value': 4 } }, trace.setSpan(ROOT_CONTEXT, root));
  child.addEvent('rolled');
  child.addEvent('re-rolled', { 'roll.value': 5, 'why': 'dropped on the floor' }, [1_700_000_000, 5]);
  child.addLink({ context: root.spanContext(), attributes: { 'link.kind': 'same trace' } });
  child.addLink({
    context: {
      traceId: 'ff'.repeat(16),
      spanId: '01'.repeat(8),
      traceFlags: TraceFlags.NONE,
      isRemote: true,
      traceState: new TraceState('k=v'),
    },
  });
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'the die fell off the table' });
  child.end();
  root.setStatus({ code: SpanStatusCode.OK });
  root.end();
  for (const kind of [SpanKind.INTERNAL, SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER]) {
    // Times past 2^53 ns, and one far in the future, to check the fixed64 arithmetic.
    dice.startSpan(`kind ${kind}`, { kind, startTime: [4_102_444_800, 999_999_999] }).end([4_102_444_801, 1]);
  }
  other.getTracer('elsewhere', '9').startSpan('from another resource').end();
  dice.startSpan('after the other resource', { attributes: { 'x': 'y' } }).end();
  return exporter.getFinishedSpans();
}

function makeLogRecords(): ReadableLogRecord[] {
  const exporter = new InMemoryLogRecordExporter();
  const provider = new LoggerProvider({ resource, processors: [new SimpleLogRecordProcessor({ exporter })] });
  const logger = provider.getLogger('rolldice', '0.1.0');
  const other = provider.getLogger('rolldice/http-server', undefined, {
    schemaUrl: 'https://opentelemetry.io/schemas/1.36.0',
  });
  const span = new TracerProvider().getTracer('t').startSpan('s');
  context.with(trace.setSpan(context.active(), span), () => {
    logger.emit({
      body: 'Alice is rolling the dice',
      severityNumber: SeverityNumber.INFO,
      severityText: 'INFO',
      attributes: { result: 4 },
    });
  });
  span.end();
  logger.emit({ body: 'Zoë rolls 🎲', attributes: EVERY_VALUE });
  logger.emit({
    body: { value: 5, nested: { list: [1, 'two', { three: 3 }], bytes: new Uint8Array([0, 1, 255]) } },
    eventName: 'dice.rolled',
  });
  logger.emit({ body: 12.5, severityNumber: SeverityNumber.ERROR });
  logger.emit({ body: ['a', true, null as unknown as string] });
  logger.emit({ body: new Uint8Array([9, 8, 7]), timestamp: [4_102_444_800, 123_456_789] });
  other.emit({ severityNumber: SeverityNumber.WARN, attributes: { 'no.body': true } });
  logger.emit({ body: '' });
  return exporter.getFinishedLogRecords();
}

test('BatchEncoder(encodeSpan) makes the bytes of the official protobuf serializer, span for span', () => {
  const spans = makeSpans();
  assert.ok(spans.length >= 8);
  const encoder = new BatchEncoder(encodeSpan);
  assert.deepEqual(encodeAll(encoder, spans), ProtobufTraceSerializer.serializeRequest(spans));
  // Its buffers are reused: a second batch is as right as the first.
  const reversed = [...spans].reverse().slice(2);
  assert.deepEqual(encodeAll(encoder, reversed), ProtobufTraceSerializer.serializeRequest(reversed));
});

test('BatchEncoder(encodeSpan) output decodes to the spans, flags and times it was given', () => {
  const spans = makeSpans();
  const decoded = flattenSpans([decodeExportRequest('traces', encodeAll(new BatchEncoder(encodeSpan), spans))]);
  const byName = new Map(decoded.map((s) => [s.name, s]));
  // Sampled, with "has is_remote", and "is_remote" where the parent came from another process.
  assert.equal(byName.get('GET /rolldice/{player}')!.flags, 0x01 | 0x100 | 0x200);
  assert.equal(byName.get('roll')!.flags, 0x01 | 0x100);
  assert.equal(byName.get('kind 0')!.startTimeUnixNano, '4102444800999999999');
  assert.equal(byName.get('kind 0')!.endTimeUnixNano, '4102444801000000001');
  assert.equal(decoded.length, spans.length);
});

test('BatchEncoder(encodeSpan) stays exact when attribute values repeat, alternate and change', () => {
  // The encoder copies the bytes of a key and value it has just encoded: values that repeat,
  // that alternate, and that change for good after a long run must all come out as they are.
  const exporter = new InMemorySpanExporter();
  const tracer = new TracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor({ exporter })] }).getTracer(
    't',
  );
  for (let i = 0; i < 60; i++) {
    tracer.startSpan('s', {
      attributes: {
        'same': 'always',
        'port': 40_000 + (i % 3),
        'method': i < 30 ? 'GET' : 'POST',
        'flag': i % 2 === 0,
        'ratio': i < 45 ? 0.5 : 0.25,
        'player': `p${Math.floor(i / 10)}`,
      },
    }).end();
  }
  const spans = exporter.getFinishedSpans();
  const encoder = new BatchEncoder(encodeSpan);
  assert.deepEqual(encodeAll(encoder, spans), ProtobufTraceSerializer.serializeRequest(spans));
  assert.deepEqual(
    encodeAll(encoder, spans.slice(25, 50)),
    ProtobufTraceSerializer.serializeRequest(spans.slice(25, 50)),
  );
});

test('BatchEncoder(encodeLogRecord) makes the bytes of the official protobuf serializer, record for record', () => {
  const records = makeLogRecords();
  const encoder = new BatchEncoder(encodeLogRecord);
  assert.deepEqual(encodeAll(encoder, records), ProtobufLogsSerializer.serializeRequest(records));
  const some = records.slice(1, 4);
  assert.deepEqual(encodeAll(encoder, some), ProtobufLogsSerializer.serializeRequest(some));
});

test('ProtoWriter.endLength() moves content for lengths of two bytes and more', () => {
  for (const length of [0, 127, 128, 16_383, 16_384, 300_000]) {
    const writer = new ProtoWriter(8);
    const start = writer.beginLength();
    writer.ensure(length);
    writer.buffer.fill(7, writer.pos, writer.pos + length);
    writer.pos += length;
    writer.endLength(start);
    const bytes = writer.bytes();
    // Decode the varint by hand.
    let value = 0;
    let shift = 0;
    let i = 0;
    for (;; i++) {
      value += (bytes[i]! & 127) * 2 ** shift;
      shift += 7;
      if (bytes[i]! < 128) break;
    }
    assert.equal(value, length);
    assert.equal(bytes.length, i + 1 + length);
    assert.ok(bytes.subarray(i + 1).every((b) => b === 7));
  }
});

test('ProtoWriter.hexId() writes ids given in either case as the same bytes', () => {
  // The API accepts ids in either case (isValidTraceId); W3C traceparent ids are lowercase.
  for (const id of ['0af7651916cd43dd8448eb211c80319c', 'b7ad6b7169203331', '0123456789abcdef']) {
    const expected = Uint8Array.from(id.match(/../g)!, (pair) => Number.parseInt(pair, 16));
    for (const text of [id, id.toUpperCase()]) {
      const writer = new ProtoWriter(16);
      writer.hexId(text);
      assert.deepEqual(writer.bytes(), Uint8Array.of(expected.length, ...expected), text);
    }
  }
});

test('ProtoWriter.hrTime() writes exact nanoseconds, in the same second and across seconds', () => {
  const nanos = (seconds: number, fraction: number) => BigInt(seconds) * 1_000_000_000n + BigInt(fraction);
  // A second whose nanoseconds end just below a multiple of 2^32: adding the fraction carries.
  let carrying = 1_700_000_000;
  while (nanos(carrying, 0) % 2n ** 32n < 2n ** 32n - 1_000_000_000n) carrying++;
  const times: [number, number][] = [
    [0, 0],
    [0, 999_999_999],
    [1, 0],
    [carrying, 0],
    [carrying, 999_999_999],
    [carrying, 5],
    [1_764_000_000, 123_456_789],
    [1_764_000_000, 123_456_790],
    [1_764_000_001, 0],
    [4_102_444_800, 999_999_999],
    [4_102_444_801, 1],
    [2 ** 33, 7],
  ];
  for (const [seconds, fraction] of times) {
    const writer = new ProtoWriter(8);
    writer.hrTime([seconds, fraction]);
    const view = new DataView(writer.buffer.buffer, 0, 8);
    assert.equal(view.getBigUint64(0, true), nanos(seconds, fraction), `${seconds}.${fraction}`);
  }
});
