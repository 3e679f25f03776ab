/**
 * Decodes OTLP export requests (protobuf, by hand) and normalizes OTLP/JSON documents into
 * one canonical OTLP/JSON form, so a test can compare what two encodings carried:
 *
 *   assert.deepEqual(decodeExportRequest('traces', bytes), normalizeOtlpJson(JSON.parse(text)));
 *
 * The canonical form is the OTLP/JSON mapping: lowerCamelCase names, trace and span ids as
 * lowercase hex, enums as numbers, 64-bit integers as decimal strings, other bytes as
 * base64. Both sides drop unknown fields, default-valued scalars (unless the field has
 * presence: a oneof member or `optional`), empty arrays and empty singular messages. The
 * last rule exists because encoders disagree about empty messages: the JSON serializer
 * sends `body: {}` for a log record without a body, the protobuf one sends nothing.
 *
 * The schema below is the subset of opentelemetry-proto v1.11 that export requests use,
 * written out by field number; it is not generated, so the suite needs no .proto files.
 */
import { Buffer } from 'node:buffer';

export type OtlpSignal = 'traces' | 'metrics' | 'logs';

type ScalarType =
  | 'string'
  | 'bytes'
  | 'hex'
  | 'bool'
  | 'enum'
  | 'int32'
  | 'uint32'
  | 'sint32'
  | 'fixed32'
  | 'int64'
  | 'uint64'
  | 'fixed64'
  | 'sfixed64'
  | 'double';
/** `repeated`, or `presence` for oneof members and `optional` fields, whose zero value counts. */
type FieldFlag = 'repeated' | 'presence';
/** A message type: field number → [lowerCamelCase JSON name, type, flag]. */
interface MessageType {
  [fieldNumber: number]: readonly [name: string, type: ScalarType | MessageType, flag?: FieldFlag];
}

const R = 'repeated';
const P = 'presence';

// common/v1 and resource/v1. AnyValue refers to itself through ArrayValue and KeyValueList,
// so it is filled in after them.
const AnyValue: MessageType = {};
const ArrayValue: MessageType = { 1: ['values', AnyValue, R] };
const KeyValue: MessageType = { 1: ['key', 'string'], 2: ['value', AnyValue], 3: ['keyStrindex', 'int32'] };
const KeyValueList: MessageType = { 1: ['values', KeyValue, R] };
Object.assign(
  AnyValue,
  {
    1: ['stringValue', 'string', P],
    2: ['boolValue', 'bool', P],
    3: ['intValue', 'int64', P],
    4: ['doubleValue', 'double', P],
    5: ['arrayValue', ArrayValue, P],
    6: ['kvlistValue', KeyValueList, P],
    7: ['bytesValue', 'bytes', P],
    8: ['stringValueStrindex', 'int32', P],
  } satisfies MessageType,
);
const InstrumentationScope: MessageType = {
  1: ['name', 'string'],
  2: ['version', 'string'],
  3: ['attributes', KeyValue, R],
  4: ['droppedAttributesCount', 'uint32'],
};
const EntityRef: MessageType = {
  1: ['schemaUrl', 'string'],
  2: ['type', 'string'],
  3: ['idKeys', 'string', R],
  4: ['descriptionKeys', 'string', R],
};
const Resource: MessageType = {
  1: ['attributes', KeyValue, R],
  2: ['droppedAttributesCount', 'uint32'],
  3: ['entityRefs', EntityRef, R],
};

// trace/v1
const SpanEvent: MessageType = {
  1: ['timeUnixNano', 'fixed64'],
  2: ['name', 'string'],
  3: ['attributes', KeyValue, R],
  4: ['droppedAttributesCount', 'uint32'],
};
const SpanLink: MessageType = {
  1: ['traceId', 'hex'],
  2: ['spanId', 'hex'],
  3: ['traceState', 'string'],
  4: ['attributes', KeyValue, R],
  5: ['droppedAttributesCount', 'uint32'],
  6: ['flags', 'fixed32'],
};
const Status: MessageType = { 2: ['message', 'string'], 3: ['code', 'enum'] };
const Span: MessageType = {
  1: ['traceId', 'hex'],
  2: ['spanId', 'hex'],
  3: ['traceState', 'string'],
  4: ['parentSpanId', 'hex'],
  5: ['name', 'string'],
  6: ['kind', 'enum'],
  7: ['startTimeUnixNano', 'fixed64'],
  8: ['endTimeUnixNano', 'fixed64'],
  9: ['attributes', KeyValue, R],
  10: ['droppedAttributesCount', 'uint32'],
  11: ['events', SpanEvent, R],
  12: ['droppedEventsCount', 'uint32'],
  13: ['links', SpanLink, R],
  14: ['droppedLinksCount', 'uint32'],
  15: ['status', Status],
  16: ['flags', 'fixed32'],
};
const ScopeSpans: MessageType = {
  1: ['scope', InstrumentationScope],
  2: ['spans', Span, R],
  3: ['schemaUrl', 'string'],
};
const ResourceSpans: MessageType = {
  1: ['resource', Resource],
  2: ['scopeSpans', ScopeSpans, R],
  3: ['schemaUrl', 'string'],
};

// metrics/v1
const Exemplar: MessageType = {
  7: ['filteredAttributes', KeyValue, R],
  2: ['timeUnixNano', 'fixed64'],
  3: ['asDouble', 'double', P],
  6: ['asInt', 'sfixed64', P],
  4: ['spanId', 'hex'],
  5: ['traceId', 'hex'],
};
const NumberDataPoint: MessageType = {
  7: ['attributes', KeyValue, R],
  2: ['startTimeUnixNano', 'fixed64'],
  3: ['timeUnixNano', 'fixed64'],
  4: ['asDouble', 'double', P],
  6: ['asInt', 'sfixed64', P],
  5: ['exemplars', Exemplar, R],
  8: ['flags', 'uint32'],
};
const HistogramDataPoint: MessageType = {
  9: ['attributes', KeyValue, R],
  2: ['startTimeUnixNano', 'fixed64'],
  3: ['timeUnixNano', 'fixed64'],
  4: ['count', 'fixed64'],
  5: ['sum', 'double', P],
  6: ['bucketCounts', 'fixed64', R],
  7: ['explicitBounds', 'double', R],
  8: ['exemplars', Exemplar, R],
  10: ['flags', 'uint32'],
  11: ['min', 'double', P],
  12: ['max', 'double', P],
};
const Buckets: MessageType = { 1: ['offset', 'sint32'], 2: ['bucketCounts', 'uint64', R] };
const ExponentialHistogramDataPoint: MessageType = {
  1: ['attributes', KeyValue, R],
  2: ['startTimeUnixNano', 'fixed64'],
  3: ['timeUnixNano', 'fixed64'],
  4: ['count', 'fixed64'],
  5: ['sum', 'double', P],
  6: ['scale', 'sint32'],
  7: ['zeroCount', 'fixed64'],
  8: ['positive', Buckets],
  9: ['negative', Buckets],
  10: ['flags', 'uint32'],
  11: ['exemplars', Exemplar, R],
  12: ['min', 'double', P],
  13: ['max', 'double', P],
  14: ['zeroThreshold', 'double'],
};
const ValueAtQuantile: MessageType = { 1: ['quantile', 'double'], 2: ['value', 'double'] };
const SummaryDataPoint: MessageType = {
  7: ['attributes', KeyValue, R],
  2: ['startTimeUnixNano', 'fixed64'],
  3: ['timeUnixNano', 'fixed64'],
  4: ['count', 'fixed64'],
  5: ['sum', 'double'],
  6: ['quantileValues', ValueAtQuantile, R],
  8: ['flags', 'uint32'],
};
const Metric: MessageType = {
  1: ['name', 'string'],
  2: ['description', 'string'],
  3: ['unit', 'string'],
  5: ['gauge', { 1: ['dataPoints', NumberDataPoint, R] }, P],
  7: ['sum', {
    1: ['dataPoints', NumberDataPoint, R],
    2: ['aggregationTemporality', 'enum'],
    3: ['isMonotonic', 'bool'],
  }, P],
  9: ['histogram', { 1: ['dataPoints', HistogramDataPoint, R], 2: ['aggregationTemporality', 'enum'] }, P],
  10: ['exponentialHistogram', {
    1: ['dataPoints', ExponentialHistogramDataPoint, R],
    2: ['aggregationTemporality', 'enum'],
  }, P],
  11: ['summary', { 1: ['dataPoints', SummaryDataPoint, R] }, P],
  12: ['metadata', KeyValue, R],
};
const ScopeMetrics: MessageType = {
  1: ['scope', InstrumentationScope],
  2: ['metrics', Metric, R],
  3: ['schemaUrl', 'string'],
};
const ResourceMetrics: MessageType = {
  1: ['resource', Resource],
  2: ['scopeMetrics', ScopeMetrics, R],
  3: ['schemaUrl', 'string'],
};

// logs/v1
const LogRecord: MessageType = {
  1: ['timeUnixNano', 'fixed64'],
  11: ['observedTimeUnixNano', 'fixed64'],
  2: ['severityNumber', 'enum'],
  3: ['severityText', 'string'],
  5: ['body', AnyValue],
  6: ['attributes', KeyValue, R],
  7: ['droppedAttributesCount', 'uint32'],
  8: ['flags', 'fixed32'],
  9: ['traceId', 'hex'],
  10: ['spanId', 'hex'],
  12: ['eventName', 'string'],
};
const ScopeLogs: MessageType = {
  1: ['scope', InstrumentationScope],
  2: ['logRecords', LogRecord, R],
  3: ['schemaUrl', 'string'],
};
const ResourceLogs: MessageType = {
  1: ['resource', Resource],
  2: ['scopeLogs', ScopeLogs, R],
  3: ['schemaUrl', 'string'],
};

// collector/*/v1: the Export*ServiceRequest messages.
const REQUESTS: Record<OtlpSignal, MessageType> = {
  traces: { 1: ['resourceSpans', ResourceSpans, R] },
  metrics: { 1: ['resourceMetrics', ResourceMetrics, R] },
  logs: { 1: ['resourceLogs', ResourceLogs, R] },
};

const WIRE_VARINT = 0;
const WIRE_I64 = 1;
const WIRE_LEN = 2;
const WIRE_I32 = 5;

function wireTypeOf(type: ScalarType | MessageType): number {
  switch (type) {
    case 'fixed64':
    case 'sfixed64':
    case 'double':
      return WIRE_I64;
    case 'fixed32':
      return WIRE_I32;
    case 'string':
    case 'bytes':
    case 'hex':
      return WIRE_LEN;
    default:
      return typeof type === 'string' ? WIRE_VARINT : WIRE_LEN;
  }
}

/** A cursor over the whole request, so error messages can give absolute byte offsets. */
class Reader {
  readonly bytes: Uint8Array;
  readonly view: DataView;
  pos = 0;

  constructor(bytes: Uint8Array) {
    this.bytes = bytes;
    this.view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  }

  fail(message: string, at = this.pos): never {
    throw new Error(`Malformed OTLP protobuf at byte ${at}: ${message}`);
  }

  need(count: number, end: number): void {
    if (this.pos + count > end) this.fail(`${count} bytes needed but the message ends at byte ${end}`);
  }

  varint(end: number): bigint {
    const start = this.pos;
    let value = 0n;
    for (let shift = 0n; shift < 70n; shift += 7n) {
      if (this.pos >= end) this.fail('truncated varint', start);
      const byte = this.bytes[this.pos++]!;
      value |= BigInt(byte & 0x7f) << shift;
      if (byte < 0x80) return BigInt.asUintN(64, value);
    }
    return this.fail('varint longer than 10 bytes', start);
  }

  fixed32(end: number): number {
    this.need(4, end);
    const value = this.view.getUint32(this.pos, true);
    this.pos += 4;
    return value;
  }

  fixed64(end: number): bigint {
    this.need(8, end);
    const value = this.view.getBigUint64(this.pos, true);
    this.pos += 8;
    return value;
  }

  double(end: number): number {
    this.need(8, end);
    const value = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return value;
  }

  /** Reads a length prefix and returns where the delimited bytes end. */
  delimited(end: number): number {
    const start = this.pos;
    const length = this.varint(end);
    if (length > BigInt(end - this.pos)) {
      this.fail(`length ${length} runs past the end of the message at byte ${end}`, start);
    }
    return this.pos + Number(length);
  }

  skip(wireType: number, end: number): void {
    switch (wireType) {
      case WIRE_VARINT:
        this.varint(end);
        break;
      case WIRE_I64:
        this.need(8, end);
        this.pos += 8;
        break;
      case WIRE_LEN:
        this.pos = this.delimited(end);
        break;
      case WIRE_I32:
        this.need(4, end);
        this.pos += 4;
        break;
      default:
        this.fail(`unsupported wire type ${wireType}`);
    }
  }
}

const utf8 = new TextDecoder('utf-8', { fatal: true });

function readScalar(reader: Reader, type: ScalarType, end: number): unknown {
  switch (type) {
    case 'string':
    case 'bytes':
    case 'hex': {
      const stop = reader.delimited(end);
      const bytes = reader.bytes.subarray(reader.pos, stop);
      const start = reader.pos;
      reader.pos = stop;
      if (type === 'hex') return Buffer.from(bytes).toString('hex');
      if (type === 'bytes') return Buffer.from(bytes).toString('base64');
      try {
        return utf8.decode(bytes);
      } catch {
        return reader.fail('string is not valid UTF-8', start);
      }
    }
    case 'bool':
      return reader.varint(end) !== 0n;
    case 'enum':
    case 'int32':
      return Number(BigInt.asIntN(32, reader.varint(end)));
    case 'uint32':
      return Number(BigInt.asUintN(32, reader.varint(end)));
    case 'sint32': {
      const n = Number(BigInt.asUintN(32, reader.varint(end)));
      return (n >>> 1) ^ -(n & 1);
    }
    case 'int64':
      return BigInt.asIntN(64, reader.varint(end)).toString();
    case 'uint64':
      return reader.varint(end).toString();
    case 'fixed32':
      return reader.fixed32(end);
    case 'fixed64':
      return reader.fixed64(end).toString();
    case 'sfixed64':
      return BigInt.asIntN(64, reader.fixed64(end)).toString();
    case 'double':
      return reader.double(end);
  }
}

function isDefault(value: unknown): boolean {
  if (Array.isArray(value)) return value.length === 0;
  if (typeof value === 'object' && value !== null) return Object.keys(value).length === 0;
  return value === '' || value === 0 || value === false || value === '0';
}

function decodeMessage(reader: Reader, type: MessageType, end: number, path: string): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  while (reader.pos < end) {
    const tagAt = reader.pos;
    const tag = Number(reader.varint(end));
    const fieldNumber = Math.floor(tag / 8);
    const wireType = tag & 7;
    if (fieldNumber === 0) reader.fail('field number 0', tagAt);
    const field = type[fieldNumber];
    if (!field) {
      reader.skip(wireType, end); // unknown fields are skipped, as proto3 parsers do
      continue;
    }
    const [name, fieldType, flag] = field;
    const expected = wireTypeOf(fieldType);
    const values: unknown[] = [];
    if (typeof fieldType !== 'string') {
      if (wireType !== WIRE_LEN) reader.fail(`${path}.${name} has wire type ${wireType}, expected ${WIRE_LEN}`, tagAt);
      const stop = reader.delimited(end);
      values.push(decodeMessage(reader, fieldType, stop, `${path}.${name}`));
    } else if (flag === R && wireType === WIRE_LEN && expected !== WIRE_LEN) {
      // Packed repeated scalars (histogram bucket counts and bounds): one run of values.
      const stop = reader.delimited(end);
      while (reader.pos < stop) values.push(readScalar(reader, fieldType, stop));
    } else {
      if (wireType !== expected) reader.fail(`${path}.${name} has wire type ${wireType}, expected ${expected}`, tagAt);
      values.push(readScalar(reader, fieldType, end));
    }
    if (flag === R) {
      if (values.length > 0) out[name] = [...((out[name] as unknown[] | undefined) ?? []), ...values];
    } else if (flag !== P && isDefault(values[0])) {
      // Last one wins for singular fields (proto3 would merge repeated messages; no encoder sends those).
      delete out[name];
    } else {
      out[name] = values[0];
    }
  }
  return out;
}

/** Decodes an Export{Trace,Metrics,Logs}ServiceRequest; throws on malformed input. */
export function decodeExportRequest(signal: OtlpSignal, bytes: Uint8Array): OtlpExportRequest {
  const type = REQUESTS[signal];
  if (!type) throw new Error(`Unknown OTLP signal ${JSON.stringify(signal)}`);
  const reader = new Reader(bytes);
  return decodeMessage(reader, type, bytes.length, signal) as OtlpExportRequest;
}

// OTLP/JSON → canonical form.

function jsonFail(path: string, expected: string, value: unknown): never {
  throw new Error(`Malformed OTLP/JSON at ${path}: expected ${expected}, got ${JSON.stringify(value)}`);
}

const INTEGER = /^-?\d+$/;

function normalizeScalar(type: ScalarType, value: unknown, path: string): unknown {
  switch (type) {
    case 'string':
      return typeof value === 'string' ? value : jsonFail(path, 'a string', value);
    case 'bool':
      return typeof value === 'boolean' ? value : jsonFail(path, 'a boolean', value);
    case 'hex':
      // OTLP/JSON spells ids in hex (not base64 as the generic proto3 mapping would).
      return typeof value === 'string' && /^[0-9a-fA-F]*$/.test(value) && value.length % 2 === 0
        ? value.toLowerCase()
        : jsonFail(path, 'a hex string', value);
    case 'bytes':
      return typeof value === 'string'
        ? Buffer.from(value, 'base64').toString('base64')
        : jsonFail(path, 'a base64 string', value);
    case 'double':
      if (typeof value === 'number') return value;
      if (typeof value === 'string' && value.trim() !== '' && !Number.isNaN(Number(value))) return Number(value);
      if (value === 'NaN') return NaN;
      return jsonFail(path, 'a number', value);
    case 'enum':
    case 'int32':
    case 'uint32':
    case 'sint32':
    case 'fixed32':
      if (typeof value === 'number' && Number.isInteger(value)) return value;
      if (typeof value === 'string' && INTEGER.test(value)) return Number(value);
      return jsonFail(path, 'an integer', value);
    case 'int64':
    case 'sfixed64':
    case 'uint64':
    case 'fixed64': {
      // Serializers emit 64-bit integers as numbers or strings; the canonical form is a string.
      let n: bigint;
      if (typeof value === 'number' && Number.isInteger(value)) n = BigInt(value);
      else if (typeof value === 'string' && INTEGER.test(value)) n = BigInt(value);
      else return jsonFail(path, 'an integer', value);
      return (type === 'int64' || type === 'sfixed64' ? BigInt.asIntN(64, n) : BigInt.asUintN(64, n)).toString();
    }
  }
}

function normalizeValue(type: ScalarType | MessageType, value: unknown, path: string): unknown {
  return typeof type === 'string' ? normalizeScalar(type, value, path) : normalizeMessage(type, value, path);
}

function normalizeMessage(type: MessageType, json: unknown, path: string): Record<string, unknown> {
  if (typeof json !== 'object' || json === null || Array.isArray(json)) jsonFail(path, 'an object', json);
  const source = json as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [name, fieldType, flag] of Object.values(type)) {
    const raw = source[name];
    if (raw === undefined || raw === null) continue; // proto3 JSON: null means default
    const at = `${path}.${name}`;
    const one = (value: unknown, where: string) => normalizeValue(fieldType, value, where);
    let value: unknown;
    if (flag === R) {
      if (!Array.isArray(raw)) jsonFail(at, 'an array', raw);
      value = raw.map((item, i) => one(item, `${at}[${i}]`));
    } else {
      value = one(raw, at);
    }
    if (flag === P || !isDefault(value)) out[name] = value;
  }
  return out; // fields the schema does not know are dropped, as the protobuf decoder skips them
}

const TOP_LEVEL: Record<OtlpSignal, string> = {
  traces: 'resourceSpans',
  metrics: 'resourceMetrics',
  logs: 'resourceLogs',
};

/**
 * Brings an OTLP/JSON export request into the decoder's canonical form. Without `signal`
 * the signal is guessed from the top-level key; throws when the document does not fit.
 */
export function normalizeOtlpJson(doc: unknown, signal?: OtlpSignal): OtlpExportRequest {
  const guessed = signal ??
    (Object.keys(TOP_LEVEL) as OtlpSignal[]).find((s) =>
      typeof doc === 'object' && doc !== null && TOP_LEVEL[s] in doc
    ) ??
    'traces';
  return normalizeMessage(REQUESTS[guessed], doc, guessed) as OtlpExportRequest;
}

// The canonical form as types: every field is optional, as default values are left out.

export interface OtlpAnyValue {
  stringValue?: string;
  boolValue?: boolean;
  /** A decimal string, as every 64-bit integer. */
  intValue?: string;
  doubleValue?: number;
  arrayValue?: { values?: OtlpAnyValue[] };
  kvlistValue?: { values?: OtlpKeyValue[] };
  /** Base64. */
  bytesValue?: string;
}

export interface OtlpKeyValue {
  key?: string;
  value?: OtlpAnyValue;
}

export interface OtlpResource {
  attributes?: OtlpKeyValue[];
  droppedAttributesCount?: number;
}

export interface OtlpScope {
  name?: string;
  version?: string;
  attributes?: OtlpKeyValue[];
  droppedAttributesCount?: number;
}

export interface OtlpSpan {
  traceId?: string;
  spanId?: string;
  traceState?: string;
  parentSpanId?: string;
  name?: string;
  kind?: number;
  startTimeUnixNano?: string;
  endTimeUnixNano?: string;
  attributes?: OtlpKeyValue[];
  droppedAttributesCount?: number;
  events?: { timeUnixNano?: string; name?: string; attributes?: OtlpKeyValue[]; droppedAttributesCount?: number }[];
  droppedEventsCount?: number;
  links?: {
    traceId?: string;
    spanId?: string;
    traceState?: string;
    attributes?: OtlpKeyValue[];
    droppedAttributesCount?: number;
    flags?: number;
  }[];
  droppedLinksCount?: number;
  status?: { message?: string; code?: number };
  flags?: number;
}

export interface OtlpExemplar {
  filteredAttributes?: OtlpKeyValue[];
  timeUnixNano?: string;
  asDouble?: number;
  asInt?: string;
  spanId?: string;
  traceId?: string;
}

interface OtlpPoint {
  attributes?: OtlpKeyValue[];
  startTimeUnixNano?: string;
  timeUnixNano?: string;
  flags?: number;
}

export interface OtlpNumberDataPoint extends OtlpPoint {
  asDouble?: number;
  asInt?: string;
  exemplars?: OtlpExemplar[];
}

export interface OtlpHistogramDataPoint extends OtlpPoint {
  count?: string;
  sum?: number;
  bucketCounts?: string[];
  explicitBounds?: number[];
  exemplars?: OtlpExemplar[];
  min?: number;
  max?: number;
}

export interface OtlpExponentialHistogramDataPoint extends OtlpPoint {
  count?: string;
  sum?: number;
  scale?: number;
  zeroCount?: string;
  positive?: { offset?: number; bucketCounts?: string[] };
  negative?: { offset?: number; bucketCounts?: string[] };
  exemplars?: OtlpExemplar[];
  min?: number;
  max?: number;
  zeroThreshold?: number;
}

export interface OtlpSummaryDataPoint extends OtlpPoint {
  count?: string;
  sum?: number;
  quantileValues?: { quantile?: number; value?: number }[];
}

export interface OtlpMetric {
  name?: string;
  description?: string;
  unit?: string;
  gauge?: { dataPoints?: OtlpNumberDataPoint[] };
  sum?: { dataPoints?: OtlpNumberDataPoint[]; aggregationTemporality?: number; isMonotonic?: boolean };
  histogram?: { dataPoints?: OtlpHistogramDataPoint[]; aggregationTemporality?: number };
  exponentialHistogram?: { dataPoints?: OtlpExponentialHistogramDataPoint[]; aggregationTemporality?: number };
  summary?: { dataPoints?: OtlpSummaryDataPoint[] };
  metadata?: OtlpKeyValue[];
}

export interface OtlpLogRecord {
  timeUnixNano?: string;
  observedTimeUnixNano?: string;
  severityNumber?: number;
  severityText?: string;
  body?: OtlpAnyValue;
  attributes?: OtlpKeyValue[];
  droppedAttributesCount?: number;
  flags?: number;
  traceId?: string;
  spanId?: string;
  eventName?: string;
}

/** An Export{Trace,Metrics,Logs}ServiceRequest: one of the three lists is there. */
export interface OtlpExportRequest {
  resourceSpans?: {
    resource?: OtlpResource;
    scopeSpans?: { scope?: OtlpScope; spans?: OtlpSpan[]; schemaUrl?: string }[];
    schemaUrl?: string;
  }[];
  resourceMetrics?: {
    resource?: OtlpResource;
    scopeMetrics?: { scope?: OtlpScope; metrics?: OtlpMetric[]; schemaUrl?: string }[];
    schemaUrl?: string;
  }[];
  resourceLogs?: {
    resource?: OtlpResource;
    scopeLogs?: { scope?: OtlpScope; logRecords?: OtlpLogRecord[]; schemaUrl?: string }[];
    schemaUrl?: string;
  }[];
}

// Helpers for assertions: canonical AnyValues and attribute lists as plain values, and the
// items of many requests in one list each.

/** Converts a canonical AnyValue to a plain value (int64 becomes a number; bytes stay base64). */
export function anyValueToJs(value: OtlpAnyValue | undefined): unknown {
  if (value === undefined || value === null) return undefined;
  if ('stringValue' in value) return value.stringValue;
  if ('boolValue' in value) return value.boolValue;
  if ('intValue' in value) return Number(value.intValue);
  if ('doubleValue' in value) return value.doubleValue;
  if ('arrayValue' in value) return (value.arrayValue?.values ?? []).map(anyValueToJs);
  if ('kvlistValue' in value) return attributesToObject(value.kvlistValue?.values);
  if ('bytesValue' in value) return value.bytesValue;
  return undefined;
}

/** Converts a canonical KeyValue list to `{ key: plain value }`. */
export function attributesToObject(attributes: OtlpKeyValue[] | undefined): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const kv of attributes ?? []) out[kv.key ?? ''] = anyValueToJs(kv.value);
  return out;
}

/** What every flattened item carries besides its own fields. */
export interface Flattened {
  /** The resource's attributes as plain values. */
  resource: Record<string, unknown>;
  scope: { name: string; version: string };
}

export interface FlatSpan extends OtlpSpan, Flattened {
  attributesObject: Record<string, unknown>;
}

export interface FlatLogRecord extends OtlpLogRecord, Flattened {
  attributesObject: Record<string, unknown>;
  bodyValue: unknown;
}

export interface FlatMetric extends OtlpMetric, Flattened {}

const scopeOf = (scope: OtlpScope | undefined) => ({ name: scope?.name ?? '', version: scope?.version ?? '' });

/** Every span of the requests, in order, with its resource, scope and attributes as plain values. */
export function flattenSpans(requests: Iterable<OtlpExportRequest>): FlatSpan[] {
  const out: FlatSpan[] = [];
  for (const request of requests) {
    for (const rs of request.resourceSpans ?? []) {
      const resource = attributesToObject(rs.resource?.attributes);
      for (const ss of rs.scopeSpans ?? []) {
        for (const span of ss.spans ?? []) {
          out.push({
            ...span,
            resource,
            scope: scopeOf(ss.scope),
            attributesObject: attributesToObject(span.attributes),
          });
        }
      }
    }
  }
  return out;
}

/** Every log record of the requests, in order, with plain attributes and body. */
export function flattenLogRecords(requests: Iterable<OtlpExportRequest>): FlatLogRecord[] {
  const out: FlatLogRecord[] = [];
  for (const request of requests) {
    for (const rl of request.resourceLogs ?? []) {
      const resource = attributesToObject(rl.resource?.attributes);
      for (const sl of rl.scopeLogs ?? []) {
        for (const record of sl.logRecords ?? []) {
          out.push({
            ...record,
            resource,
            scope: scopeOf(sl.scope),
            attributesObject: attributesToObject(record.attributes),
            bodyValue: anyValueToJs(record.body),
          });
        }
      }
    }
  }
  return out;
}

/** Every metric of the requests, in order, with its resource and scope. */
export function flattenMetrics(requests: Iterable<OtlpExportRequest>): FlatMetric[] {
  const out: FlatMetric[] = [];
  for (const request of requests) {
    for (const rm of request.resourceMetrics ?? []) {
      const resource = attributesToObject(rm.resource?.attributes);
      for (const sm of rm.scopeMetrics ?? []) {
        for (const metric of sm.metrics ?? []) out.push({ ...metric, resource, scope: scopeOf(sm.scope) });
      }
    }
  }
  return out;
}
