import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  ROOT_CONTEXT,
  SeverityNumber,
  SpanKind,
  SpanStatusCode,
  trace,
  TraceFlags,
  ValueType,
} from '@opentelemetry/api';
import {
  JsonLogsSerializer,
  JsonMetricsSerializer,
  JsonTraceSerializer,
  ProtobufLogsSerializer,
  ProtobufMetricsSerializer,
  ProtobufTraceSerializer,
} from '@opentelemetry/otlp-transformer';
import { resourceFromAttributes } from '@opentelemetry/resources';
import { InMemoryLogRecordExporter, LoggerProvider, SimpleLogRecordProcessor } from '@opentelemetry/sdk-logs';
import { AggregationType, MeterProvider, MetricReader } from '@opentelemetry/sdk-metrics';
import { InMemorySpanExporter, SimpleSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
import {
  anyValueToJs,
  attributesToObject,
  decodeExportRequest,
  type FlatLogRecord,
  flattenLogRecords,
  flattenMetrics,
  normalizeOtlpJson,
} from '../../_otlp-decode.ts';

const resource = resourceFromAttributes({ 'service.name': 'rolldice-test', 'service.instance.id': 'abc-1' });
const REMOTE_TRACE_ID = '5b8efff798038103d269b633813fc60c';
const REMOTE_SPAN_ID = 'eee19b7ec3c1b174';

/** Every AnyValue kind, including ones only logs and the newer attribute API allow. */
const EVERY_KIND = {
  'attr.string': 'six',
  'attr.empty_string': '',
  'attr.int': 6,
  'attr.zero': 0,
  'attr.negative': -42,
  'attr.large': 2 ** 53 - 1,
  'attr.double': 3.5,
  'attr.bool': true,
  'attr.false': false,
  'attr.strings': ['a', 'b'],
  'attr.ints': [1, 2, 3],
  'attr.doubles': [0.5, -1.25],
  'attr.bools': [true, false],
  'attr.empty_array': [],
};

function jsonOf(bytes: Uint8Array | undefined): unknown {
  return JSON.parse(new TextDecoder().decode(bytes));
}

function makeSpans() {
  const exporter = new InMemorySpanExporter();
  const provider = new TracerProvider({ resource, spanProcessors: [new SimpleSpanProcessor({ exporter })] });
  const tracer = provider.getTracer('rolldice', '0.1.0', { schemaUrl: 'https://opentelemetry.io/schemas/1.30.0' });
  const remote = trace.setSpanContext(ROOT_CONTEXT, {
    traceId: REMOTE_TRACE_ID,
    spanId: REMOTE_SPAN_ID,
    traceFlags: TraceFlags.SAMPLED,
    isRemote: true,
  });
  const server = tracer.startSpan('GET /rolldice', { kind: SpanKind.SERVER, attributes: EVERY_KIND }, remote);
  const other = tracer.startSpan('other');
  other.end();
  const child = tracer.startSpan(
    'roll',
    { links: [{ context: other.spanContext(), attributes: { 'link.reason': 'batch' } }] },
    trace.setSpan(ROOT_CONTEXT, server),
  );
  child.addEvent('rolled', { 'roll.value': 4, 'roll.sides': [6] });
  child.addEvent('no attributes');
  child.setStatus({ code: SpanStatusCode.ERROR, message: 'Dice fell off the table' });
  child.end();
  server.setStatus({ code: SpanStatusCode.OK });
  server.end();
  return exporter.getFinishedSpans();
}

class CollectingReader extends MetricReader {
  protected async onShutdown(): Promise<void> {}
  protected async onForceFlush(): Promise<void> {}
}

async function makeResourceMetrics() {
  const reader = new CollectingReader();
  const provider = new MeterProvider({
    resource,
    readers: [reader],
    views: [{ instrumentName: 'roll.exponential', aggregation: { type: AggregationType.EXPONENTIAL_HISTOGRAM } }],
  });
  const meter = provider.getMeter('rolldice', '0.1.0');
  const rolls = meter.createCounter('rolls', { description: 'Dice rolled', unit: '{roll}', valueType: ValueType.INT });
  rolls.add(3, { 'roll.sides': 6 });
  rolls.add(1, { 'roll.sides': 20 });
  const values = meter.createHistogram('roll.value', { unit: '1', advice: { explicitBucketBoundaries: [1, 2, 4, 8] } });
  for (const v of [1, 3, 3, 6, 9.5]) values.record(v);
  const exponential = meter.createHistogram('roll.exponential');
  for (const v of [0, 0.25, 3, 1000]) exponential.record(v);
  const inFlight = meter.createUpDownCounter('requests.in_flight', { valueType: ValueType.INT });
  inFlight.add(2);
  inFlight.add(-5);
  meter.createGauge('temperature').record(-12.5, { room: 'dice' });
  meter.createObservableGauge('zero').addCallback((result) => result.observe(0));
  const { resourceMetrics, errors } = await reader.collect();
  assert.deepEqual(errors, []);
  return resourceMetrics;
}

function makeLogRecords() {
  const exporter = new InMemoryLogRecordExporter();
  const provider = new LoggerProvider({ resource, processors: [new SimpleLogRecordProcessor({ exporter })] });
  const logger = provider.getLogger('rolldice', '0.1.0');
  const span = new TracerProvider().getTracer('t').startSpan('s');
  logger.emit({
    body: 'Rolled a 4',
    severityNumber: SeverityNumber.INFO,
    severityText: 'INFO',
    attributes: EVERY_KIND,
    context: trace.setSpan(ROOT_CONTEXT, span),
  });
  logger.emit({
    eventName: 'dice.rolled',
    body: { value: 4, sides: 6, player: { name: 'ada', tags: ['x', 7] }, raw: new Uint8Array([0, 1, 254, 255]) },
    attributes: { 'bytes.attr': new Uint8Array([104, 105]), 'map.attr': { nested: true } },
  });
  logger.emit({ severityNumber: SeverityNumber.WARN });
  return { records: exporter.getFinishedLogRecords(), spanContext: span.spanContext() };
}

test('decodeExportRequest() decodes protobuf spans to what normalizeOtlpJson() makes of the JSON', () => {
  const spans = makeSpans();
  const decoded = decodeExportRequest('traces', ProtobufTraceSerializer.serializeRequest(spans)!);
  assert.deepEqual(decoded, normalizeOtlpJson(jsonOf(JsonTraceSerializer.serializeRequest(spans))));

  const scopeSpans = decoded.resourceSpans![0]!.scopeSpans![0]!;
  assert.deepEqual(scopeSpans.scope, { name: 'rolldice', version: '0.1.0' });
  assert.equal(scopeSpans.schemaUrl, 'https://opentelemetry.io/schemas/1.30.0');
  assert.deepEqual(attributesToObject(decoded.resourceSpans![0]!.resource?.attributes), {
    'service.name': 'rolldice-test',
    'service.instance.id': 'abc-1',
  });
  const byName = Object.fromEntries(scopeSpans.spans!.map((s) => [s.name ?? '', s]));
  const server = byName['GET /rolldice']!;
  const child = byName['roll']!;
  assert.equal(server.traceId, REMOTE_TRACE_ID);
  assert.equal(server.parentSpanId, REMOTE_SPAN_ID);
  assert.match(server.spanId!, /^[0-9a-f]{16}$/);
  assert.equal(server.kind, 2);
  assert.equal(server.flags, 0x301); // sampled, has-is-remote, is-remote
  assert.deepEqual(server.status, { code: 1 });
  assert.match(server.startTimeUnixNano!, /^\d{19}$/);
  assert.ok(BigInt(server.endTimeUnixNano!) >= BigInt(server.startTimeUnixNano!));
  const attrs = Object.fromEntries(server.attributes!.map((kv) => [kv.key ?? '', kv.value]));
  assert.deepEqual(attrs['attr.string'], { stringValue: 'six' });
  assert.deepEqual(attrs['attr.empty_string'], { stringValue: '' });
  assert.deepEqual(attrs['attr.int'], { intValue: '6' });
  assert.deepEqual(attrs['attr.zero'], { intValue: '0' });
  assert.deepEqual(attrs['attr.negative'], { intValue: '-42' });
  assert.deepEqual(attrs['attr.large'], { intValue: '9007199254740991' });
  assert.deepEqual(attrs['attr.double'], { doubleValue: 3.5 });
  assert.deepEqual(attrs['attr.false'], { boolValue: false });
  assert.deepEqual(attrs['attr.ints'], {
    arrayValue: { values: [{ intValue: '1' }, { intValue: '2' }, { intValue: '3' }] },
  });
  assert.deepEqual(attrs['attr.empty_array'], { arrayValue: {} });
  assert.deepEqual(attributesToObject(server.attributes), { ...EVERY_KIND });

  assert.equal(child.parentSpanId, server.spanId);
  assert.deepEqual(child.status, { code: 2, message: 'Dice fell off the table' });
  assert.deepEqual(child.events!.map((e) => [e.name, attributesToObject(e.attributes)]), [
    ['rolled', { 'roll.value': 4, 'roll.sides': [6] }],
    ['no attributes', {}],
  ]);
  assert.equal(child.links![0]!.spanId, byName['other']!.spanId);
  assert.deepEqual(attributesToObject(child.links![0]!.attributes), { 'link.reason': 'batch' });
});

test('decodeExportRequest() decodes protobuf metrics to what normalizeOtlpJson() makes of the JSON', async () => {
  const resourceMetrics = await makeResourceMetrics();
  const decoded = decodeExportRequest('metrics', ProtobufMetricsSerializer.serializeRequest(resourceMetrics)!);
  assert.deepEqual(decoded, normalizeOtlpJson(jsonOf(JsonMetricsSerializer.serializeRequest(resourceMetrics))));

  const metrics = Object.fromEntries(flattenMetrics([decoded]).map((m) => [m.name ?? '', m]));
  const rolls = metrics['rolls']!;
  assert.equal(rolls.description, 'Dice rolled');
  assert.equal(rolls.unit, '{roll}');
  assert.equal(rolls.sum?.isMonotonic, true);
  assert.equal(rolls.sum?.aggregationTemporality, 2);
  assert.deepEqual(
    rolls.sum?.dataPoints?.map((p) => [attributesToObject(p.attributes), p.asInt]),
    [[{ 'roll.sides': 6 }, '3'], [{ 'roll.sides': 20 }, '1']],
  );
  assert.equal(metrics['requests.in_flight']?.sum?.dataPoints?.[0]?.asInt, '-3');
  assert.equal(metrics['requests.in_flight']?.sum?.isMonotonic, undefined); // false is the default
  assert.equal(metrics['temperature']?.gauge?.dataPoints?.[0]?.asDouble, -12.5);
  assert.equal(metrics['zero']?.gauge?.dataPoints?.[0]?.asDouble, 0); // a oneof member keeps its zero

  const histogram = metrics['roll.value']!.histogram!.dataPoints![0]!;
  assert.equal(histogram.count, '5');
  assert.equal(histogram.sum, 22.5);
  assert.equal(histogram.min, 1);
  assert.equal(histogram.max, 9.5);
  assert.deepEqual(histogram.explicitBounds, [1, 2, 4, 8]);
  assert.deepEqual(histogram.bucketCounts, ['1', '0', '2', '1', '1']);

  const exponential = metrics['roll.exponential']!.exponentialHistogram!.dataPoints![0]!;
  assert.equal(exponential.count, '4');
  assert.equal(exponential.zeroCount, '1');
  assert.equal(typeof exponential.scale, 'number');
  const buckets = exponential.positive?.bucketCounts ?? [];
  assert.ok(buckets.every((c: unknown) => typeof c === 'string'));
  assert.equal(buckets.reduce((a, c) => a + Number(c), 0), 3);
});

test('decodeExportRequest() decodes protobuf log records to what normalizeOtlpJson() makes of the JSON', () => {
  const { records, spanContext } = makeLogRecords();
  const decoded = decodeExportRequest('logs', ProtobufLogsSerializer.serializeRequest(records)!);
  assert.deepEqual(decoded, normalizeOtlpJson(jsonOf(JsonLogsSerializer.serializeRequest(records))));

  const [first, event, bare] = flattenLogRecords([decoded]) as [FlatLogRecord, FlatLogRecord, FlatLogRecord];
  assert.deepEqual(first.body, { stringValue: 'Rolled a 4' });
  assert.equal(first.severityNumber, 9);
  assert.equal(first.severityText, 'INFO');
  assert.equal(first.traceId, spanContext.traceId);
  assert.equal(first.spanId, spanContext.spanId);
  assert.equal(first.flags, spanContext.traceFlags);
  assert.deepEqual(attributesToObject(first.attributes), { ...EVERY_KIND });
  assert.match(first.timeUnixNano!, /^\d+$/);
  assert.match(first.observedTimeUnixNano!, /^\d+$/);

  assert.equal(event.eventName, 'dice.rolled');
  assert.deepEqual(anyValueToJs(event.body), {
    value: 4,
    sides: 6,
    player: { name: 'ada', tags: ['x', 7] },
    raw: 'AAH+/w==',
  });
  assert.deepEqual(attributesToObject(event.attributes), { 'bytes.attr': 'aGk=', 'map.attr': { nested: true } });
  assert.equal(event.traceId, undefined);

  assert.deepEqual(bare.body, undefined); // the JSON side's `body: {}` is dropped as an empty message
  assert.equal(bare.severityNumber, 13);
});

test('decodeExportRequest() returns an empty object for an empty request', () => {
  assert.deepEqual(decodeExportRequest('traces', new Uint8Array(0)), {});
  assert.deepEqual(normalizeOtlpJson({ resourceSpans: [] }), {});
});

// A few protobuf writers for hand-made inputs the SDK never produces.
function varint(n: bigint | number): number[] {
  let v = BigInt.asUintN(64, BigInt(n));
  const out: number[] = [];
  while (v >= 0x80n) {
    out.push(Number(v & 0x7fn) | 0x80);
    v >>= 7n;
  }
  out.push(Number(v));
  return out;
}
const tag = (field: number, wireType: number) => varint((field << 3) | wireType);
const len = (field: number, bytes: number[]) => [...tag(field, 2), ...varint(bytes.length), ...bytes];
const fixed64 = (n: bigint) => {
  const view = new DataView(new ArrayBuffer(8));
  view.setBigUint64(0, BigInt.asUintN(64, n), true);
  return [...new Uint8Array(view.buffer)];
};
const double = (n: number) => {
  const view = new DataView(new ArrayBuffer(8));
  view.setFloat64(0, n, true);
  return [...new Uint8Array(view.buffer)];
};
const str = (s: string) => [...new TextEncoder().encode(s)];
/** ExportMetricsServiceRequest → ResourceMetrics → ScopeMetrics → the given Metric bytes. */
const metricsRequest = (metric: number[]) => new Uint8Array(len(1, len(2, len(2, metric))));

test('decodeExportRequest() reads packed and unpacked repeated fields alike', () => {
  const point = (repeated: number[]) => len(9, len(1, [...tag(4, 1), ...fixed64(3n), ...repeated]));
  const packed = point([...len(6, [...fixed64(1n), ...fixed64(2n)]), ...len(7, double(1.5))]);
  const unpacked = point([...tag(6, 1), ...fixed64(1n), ...tag(6, 1), ...fixed64(2n), ...tag(7, 1), ...double(1.5)]);
  const expected = {
    resourceMetrics: [{
      scopeMetrics: [{
        metrics: [{ histogram: { dataPoints: [{ count: '3', bucketCounts: ['1', '2'], explicitBounds: [1.5] }] } }],
      }],
    }],
  };
  assert.deepEqual(decodeExportRequest('metrics', metricsRequest(packed)), expected);
  assert.deepEqual(decodeExportRequest('metrics', metricsRequest(unpacked)), expected);
});

test('decodeExportRequest() decodes summaries, zigzag and 64-bit edge values and skips unknown fields', () => {
  const summary = len(
    11,
    len(1, [
      ...tag(4, 1),
      ...fixed64(2n ** 64n - 1n),
      ...tag(5, 1),
      ...double(7.25),
      ...len(6, [...tag(1, 1), ...double(0.5), ...tag(2, 1), ...double(3)]),
      ...tag(99, 0),
      ...varint(12345), // unknown field
    ]),
  );
  const exponential = len(10, len(1, [...tag(6, 0), ...varint(5), ...len(8, [...tag(1, 0), ...varint(3)])]));
  const gauge = len(5, len(1, [...tag(6, 1), ...fixed64(-(2n ** 63n))]));
  const metric = [...len(1, str('m')), ...summary, ...len(1000, str('ignored'))];
  const metrics = decodeExportRequest('metrics', metricsRequest(metric)).resourceMetrics![0]!.scopeMetrics![0]!
    .metrics!;
  assert.deepEqual(metrics[0], {
    name: 'm',
    summary: {
      dataPoints: [{ count: '18446744073709551615', sum: 7.25, quantileValues: [{ quantile: 0.5, value: 3 }] }],
    },
  });
  const [expo] = flattenMetrics([decodeExportRequest('metrics', metricsRequest(exponential))]);
  assert.deepEqual(expo?.exponentialHistogram?.dataPoints?.[0], { scale: -3, positive: { offset: -2 } });
  const [g] = flattenMetrics([decodeExportRequest('metrics', metricsRequest(gauge))]);
  assert.deepEqual(g?.gauge?.dataPoints?.[0], { asInt: '-9223372036854775808' });
});

test('decodeExportRequest() throws a clear error on malformed input', () => {
  const valid = ProtobufTraceSerializer.serializeRequest(makeSpans())!;
  assert.throws(
    () => decodeExportRequest('traces', valid.subarray(0, valid.length - 3)),
    /^Error: Malformed OTLP protobuf at byte \d+: /,
  );
  assert.throws(() => decodeExportRequest('traces', new Uint8Array([0x0a, 0x05, 0x01])), /length 5 runs past the end/);
  assert.throws(
    () => decodeExportRequest('traces', new Uint8Array([0x08, 0x01])),
    /traces\.resourceSpans has wire type 0, expected 2/,
  );
  assert.throws(() => decodeExportRequest('traces', new Uint8Array([0x0a, 0x01, 0x80])), /truncated varint/);
  assert.throws(() => decodeExportRequest('traces', new Uint8Array([0x17])), /unsupported wire type 7/);
  assert.throws(() => decodeExportRequest('traces', new Uint8Array([0x00])), /field number 0/);
  const badUtf8 = new Uint8Array(len(1, len(2, len(2, len(5, [0xff, 0xfe])))));
  assert.throws(() => decodeExportRequest('traces', badUtf8), /string is not valid UTF-8/);
  assert.throws(() => decodeExportRequest('spans' as never, valid), /Unknown OTLP signal "spans"/);
});

test('normalizeOtlpJson() canonicalizes ids, 64-bit integers, defaults and unknown fields', () => {
  const doc = {
    resourceSpans: [{
      resource: {
        attributes: [{ key: 'n', value: { intValue: 10 } }],
        droppedAttributesCount: 0,
        schemaUrl: 'not in proto',
      },
      scopeSpans: [{
        scope: { name: 'lib', version: '' },
        spans: [{
          traceId: '5B8EFFF798038103D269B633813FC60C',
          spanId: 'EEE19B7EC3C1B174',
          parentSpanId: null,
          name: 'span',
          kind: 2,
          startTimeUnixNano: 1544712660000000000,
          endTimeUnixNano: '1544712661000000000',
          attributes: [{ key: 'd', value: { doubleValue: 'Infinity' } }, { key: 'b', value: { bytesValue: 'aGk' } }],
          events: [],
          status: { code: 0 },
          droppedLinksCount: 0,
        }],
      }],
    }],
  };
  assert.deepEqual(normalizeOtlpJson(doc), {
    resourceSpans: [{
      resource: { attributes: [{ key: 'n', value: { intValue: '10' } }] },
      scopeSpans: [{
        scope: { name: 'lib' },
        spans: [{
          traceId: '5b8efff798038103d269b633813fc60c',
          spanId: 'eee19b7ec3c1b174',
          name: 'span',
          kind: 2,
          startTimeUnixNano: '1544712660000000000',
          endTimeUnixNano: '1544712661000000000',
          attributes: [{ key: 'd', value: { doubleValue: Infinity } }, { key: 'b', value: { bytesValue: 'aGk=' } }],
        }],
      }],
    }],
  });
});

test('normalizeOtlpJson() picks the signal from the top-level key or the argument', () => {
  const logs = { resourceLogs: [{ scopeLogs: [{ logRecords: [{ severityNumber: 9, eventName: 'e' }] }] }] };
  assert.deepEqual(normalizeOtlpJson(logs), logs);
  assert.deepEqual(normalizeOtlpJson(logs, 'traces'), {});
  const metrics = {
    resourceMetrics: [{ scopeMetrics: [{ metrics: [{ name: 'm', sum: { dataPoints: [{ asInt: 5 }] } }] }] }],
  };
  assert.deepEqual(flattenMetrics([normalizeOtlpJson(metrics)])[0]?.sum?.dataPoints?.[0], { asInt: '5' });
});

test('normalizeOtlpJson() throws on values of the wrong type', () => {
  assert.throws(
    () => normalizeOtlpJson({ resourceSpans: {} }),
    /^Error: Malformed OTLP\/JSON at traces\.resourceSpans: expected an array, got \{\}$/,
  );
  assert.throws(
    () => normalizeOtlpJson({ resourceSpans: [{ scopeSpans: [{ spans: [{ traceId: 'zz' }] }] }] }),
    /at traces\.resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.traceId: expected a hex string/,
  );
  assert.throws(
    () => normalizeOtlpJson({ resourceLogs: [{ scopeLogs: [{ logRecords: [{ timeUnixNano: 1.5 }] }] }] }),
    /timeUnixNano: expected an integer, got 1\.5/,
  );
  assert.throws(() => normalizeOtlpJson('nope'), /at traces: expected an object/);
});
