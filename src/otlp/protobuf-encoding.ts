/**
 * OTLP protobuf encoding of one span or one log record at a time, for the encoding batch
 * processors (src/otlp/encoding-batch-processor.ts).
 *
 * Written here because otlp-transformer only serializes whole export requests from the SDK's
 * objects, so a batch processor in front of it has to keep every span and log record alive
 * until its batch is sent, and its serializer walks each batch twice (once to size it). The
 * bytes are those of otlp-transformer's serializers, field for field: the tests compare the
 * two on spans and log records of every shape. Field numbers are from opentelemetry-proto
 * (trace/v1/trace.proto, logs/v1/logs.proto, common/v1/common.proto, resource/v1/resource.proto).
 */
import { type Attributes, type AttributeValue, type HrTime, type SpanContext } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { ReadableSpan, TimedEvent } from '@opentelemetry/sdk-trace';

const VARINT = 0;
const FIXED64 = 1;
const LEN = 2;
const FIXED32 = 5;

const TWO_32 = 4294967296;
const MIN_INT64 = -(2 ** 63);
const MAX_INT64 = 2 ** 63;

/** A protobuf writer over one growing buffer, reused from batch to batch. */
export class ProtoWriter {
  buffer: Uint8Array;
  pos = 0;
  #view: DataView;
  #encoder: TextEncoder | undefined;

  constructor(initialSize = 4096) {
    // Never empty, so that doubling it always grows it.
    this.buffer = new Uint8Array(Math.max(initialSize, 16));
    this.#view = new DataView(this.buffer.buffer);
  }

  /** The bytes written so far: a view, valid until the next write or reset. */
  bytes(): Uint8Array {
    return this.buffer.subarray(0, this.pos);
  }

  reset(): void {
    this.pos = 0;
  }

  ensure(extra: number): void {
    const needed = this.pos + extra;
    if (needed <= this.buffer.length) return;
    let size = this.buffer.length * 2;
    while (size < needed) size *= 2;
    const grown = new Uint8Array(size);
    grown.set(this.buffer.subarray(0, this.pos));
    this.buffer = grown;
    this.#view = new DataView(grown.buffer);
  }

  tag(field: number, wireType: number): void {
    const key = (field << 3) | wireType;
    if (key > 127) return this.uint32(key);
    if (this.pos >= this.buffer.length) this.ensure(1);
    this.buffer[this.pos++] = key;
  }

  uint32(value: number): void {
    this.ensure(5);
    const buffer = this.buffer;
    let v = value >>> 0;
    while (v > 127) {
      buffer[this.pos++] = (v & 127) | 128;
      v >>>= 7;
    }
    buffer[this.pos++] = v;
  }

  /** An int64 varint: negative numbers take ten bytes, as two's complement. */
  int64(value: number): void {
    if (value >= 0 && value < TWO_32) return this.uint32(value);
    let low: number;
    let high: number;
    const magnitude = Math.abs(value);
    low = magnitude >>> 0;
    high = (magnitude / TWO_32) >>> 0;
    if (value < 0) {
      low = ~low >>> 0;
      high = ~high >>> 0;
      low = (low + 1) >>> 0;
      if (low === 0) high = (high + 1) >>> 0;
    }
    this.ensure(10);
    while (high > 0 || low > 127) {
      this.buffer[this.pos++] = (low & 127) | 128;
      low = ((low >>> 7) | (high << 25)) >>> 0;
      high >>>= 7;
    }
    this.buffer[this.pos++] = low;
  }

  fixed32(value: number): void {
    this.ensure(4);
    this.#view.setUint32(this.pos, value >>> 0, true);
    this.pos += 4;
  }

  /** An HrTime as fixed64 nanoseconds since the epoch, exact past 2^53. */
  hrTime(time: HrTime): void {
    const seconds = time[0];
    // The seconds change once a second: their nanoseconds are worked out then, and each time
    // only adds its own nanoseconds (< 2^30) to the low word, carrying into the high one.
    if (seconds !== secondsInNanos.seconds) setSecondsInNanos(seconds);
    let low = secondsInNanos.low + time[1];
    let high = secondsInNanos.high;
    if (low >= TWO_32) {
      low -= TWO_32;
      high++;
    }
    this.ensure(8);
    this.#view.setUint32(this.pos, low, true);
    this.#view.setUint32(this.pos + 4, high >>> 0, true);
    this.pos += 8;
  }

  double(value: number): void {
    this.ensure(8);
    this.#view.setFloat64(this.pos, value, true);
    this.pos += 8;
  }

  string(value: string): void {
    const length = value.length;
    // Most strings here are short ASCII: copied in one pass behind a one-byte length, the
    // copy abandoned at the first character past ASCII.
    if (length < 128) {
      this.ensure(length + 1);
      const buffer = this.buffer;
      const start = this.pos;
      let pos = start + 1;
      for (let i = 0; i < length; i++) {
        const code = value.charCodeAt(i);
        if (code > 127) return this.byteString((this.#encoder ??= new TextEncoder()).encode(value));
        buffer[pos++] = code;
      }
      buffer[start] = length;
      this.pos = pos;
      return;
    }
    this.byteString((this.#encoder ??= new TextEncoder()).encode(value));
  }

  byteString(value: Uint8Array): void {
    this.uint32(value.length);
    this.append(value);
  }

  /** Bytes as they are, with no tag or length: an already encoded run of fields. */
  append(value: Uint8Array): void {
    this.ensure(value.length);
    this.buffer.set(value, this.pos);
    this.pos += value.length;
  }

  /** A trace or span id given in lowercase or uppercase hex, as bytes. */
  hexId(hex: string): void {
    const length = hex.length >>> 1;
    this.uint32(length);
    this.ensure(length);
    const buffer = this.buffer;
    let pos = this.pos;
    for (let i = 0; i < 2 * length; i += 2) {
      buffer[pos++] = (HEX_VALUES[hex.charCodeAt(i) & 127]! << 4) | HEX_VALUES[hex.charCodeAt(i + 1) & 127]!;
    }
    this.pos = pos;
  }

  /** Starts a length-delimited field whose length is not known yet: one byte is kept for it. */
  beginLength(): number {
    this.ensure(1);
    return this.pos++;
  }

  /** Writes the length kept by beginLength(), moving the content when it needs more bytes. */
  endLength(start: number): void {
    const length = this.pos - start - 1;
    if (length < 128) {
      this.buffer[start] = length;
      return;
    }
    const size = varintSize(length);
    if (size > 1) {
      this.ensure(size - 1);
      this.buffer.copyWithin(start + size, start + 1, this.pos);
      this.pos += size - 1;
    }
    let v = length;
    let at = start;
    while (v > 127) {
      this.buffer[at++] = (v & 127) | 128;
      v >>>= 7;
    }
    this.buffer[at] = v;
  }
}

/** `seconds` * 1e9 as two 32-bit words, for the last seconds an HrTime was written with. */
const secondsInNanos = { seconds: -1, low: 0, high: 0 };

function setSecondsInNanos(seconds: number): void {
  // seconds * 1e9 overflows a double's 53 bits: split the seconds at 2^16.
  const secondsLow = seconds % 65536;
  const secondsHigh = (seconds - secondsLow) / 65536;
  const a = secondsLow * 1e9; // < 2^46
  const b = secondsHigh * 1e9; // < 2^46, to be shifted left by 16
  const bLow = b % 65536;
  const low = (a % TWO_32) + bLow * 65536; // < 2^33
  secondsInNanos.high = Math.floor(a / TWO_32) + (b - bLow) / 65536 + Math.floor(low / TWO_32);
  secondsInNanos.low = low % TWO_32;
  secondsInNanos.seconds = seconds;
}

/**
 * The value of each hex digit by character code ('0'-'9', 'a'-'f', 'A'-'F'; 0 for the rest): a
 * table rather than comparisons, whose branches random ids make unpredictable.
 */
const HEX_VALUES = new Uint8Array(128);
for (let digit = 0; digit < 16; digit++) {
  const text = digit.toString(16);
  HEX_VALUES[text.charCodeAt(0)] = digit;
  HEX_VALUES[text.toUpperCase().charCodeAt(0)] = digit;
}

function varintSize(value: number): number {
  if (value < 128) return 1;
  if (value < 16384) return 2;
  if (value < 2097152) return 3;
  if (value < 268435456) return 4;
  return 5;
}

/** AnyValue (common.proto): string 1, bool 2, int 3, double 4, array 5, kvlist 6, bytes 7. */
function anyValue(w: ProtoWriter, value: unknown): void {
  switch (typeof value) {
    case 'string':
      w.tag(1, LEN);
      w.string(value);
      return;
    case 'boolean':
      w.tag(2, VARINT);
      w.uint32(value ? 1 : 0);
      return;
    case 'number':
      if (Number.isInteger(value) && value >= MIN_INT64 && value < MAX_INT64) {
        w.tag(3, VARINT);
        w.int64(value);
      } else {
        w.tag(4, FIXED64);
        w.double(value);
      }
      return;
    case 'object': {
      if (value === null) return;
      if (value instanceof Uint8Array) {
        w.tag(7, LEN);
        w.byteString(value);
        return;
      }
      if (Array.isArray(value)) {
        // ArrayValue { repeated AnyValue values = 1 }
        w.tag(5, LEN);
        const array = w.beginLength();
        for (const item of value) {
          w.tag(1, LEN);
          const start = w.beginLength();
          anyValue(w, item);
          w.endLength(start);
        }
        w.endLength(array);
        return;
      }
      // KeyValueList { repeated KeyValue values = 1 }
      w.tag(6, LEN);
      const list = w.beginLength();
      keyValues(w, value as Record<string, unknown>, 1);
      w.endLength(list);
      return;
    }
  }
}

/** A KeyValue's content as last encoded, kept while its key keeps that value. */
interface EncodedPair {
  value: string | number | boolean;
  bytes: Uint8Array;
  /** Encodings since `value` was last seen with its key: a key whose value changes is not kept. */
  misses: number;
}

const MAX_KEPT_PAIRS = 256;
const MAX_KEPT_PAIR_BYTES = 128;
/** After this many misses in a row a key's kept pair is replaced by its new value. */
const MISSES_BEFORE_REPLACING = 8;
// Most attributes repeat from span to span (`http.request.method` = `GET`, `server.port`, ...):
// their bytes are copied rather than encoded again. Keyed by attribute key, so bounded by the
// keys the code uses, and capped all the same.
const keptPairs = new Map<string, EncodedPair>();

/** Repeated KeyValue { key = 1, value = 2 } in field `field`, in the object's own key order. */
function keyValues(w: ProtoWriter, attributes: Record<string, unknown>, field: number): void {
  for (const key in attributes) {
    if (!Object.prototype.hasOwnProperty.call(attributes, key)) continue;
    const value = attributes[key];
    w.tag(field, LEN);
    const pair = w.beginLength();
    const kept = keptPairs.get(key);
    if (kept !== undefined && kept.value === value) {
      kept.misses = 0;
      w.append(kept.bytes);
    } else {
      const start = w.pos;
      w.tag(1, LEN);
      w.string(key);
      w.tag(2, LEN);
      const valueStart = w.beginLength();
      anyValue(w, value);
      w.endLength(valueStart);
      if (typeof value === 'string' || typeof value === 'number' || typeof value === 'boolean') {
        keep(key, value, kept, w.buffer, start, w.pos);
      }
    }
    w.endLength(pair);
  }
}

function keep(
  key: string,
  value: string | number | boolean,
  kept: EncodedPair | undefined,
  buffer: Uint8Array,
  start: number,
  end: number,
): void {
  if (end - start > MAX_KEPT_PAIR_BYTES) return;
  if (kept === undefined) {
    if (keptPairs.size < MAX_KEPT_PAIRS) keptPairs.set(key, { value, bytes: buffer.slice(start, end), misses: 0 });
  } else if (++kept.misses > MISSES_BEFORE_REPLACING) {
    kept.value = value;
    kept.bytes = buffer.slice(start, end);
    kept.misses = 0;
  }
}

/** Resource { attributes = 1, dropped_attributes_count = 2 }, without tag or length. */
export function encodeResource(w: ProtoWriter, resource: Resource): void {
  keyValues(w, resource.attributes as Attributes, 1);
  w.tag(2, VARINT);
  w.uint32(0);
}

/** InstrumentationScope { name = 1, version = 2, attributes = 3, dropped_attributes_count = 4 }. */
export function encodeScope(
  w: ProtoWriter,
  scope: InstrumentationScope & { attributes?: Attributes; droppedAttributesCount?: number },
): void {
  w.tag(1, LEN);
  w.string(scope.name);
  if (scope.version) {
    w.tag(2, LEN);
    w.string(scope.version);
  }
  if (scope.attributes) keyValues(w, scope.attributes, 3);
  if (scope.droppedAttributesCount) {
    w.tag(4, VARINT);
    w.uint32(scope.droppedAttributesCount);
  }
}

/** Span.flags: the W3C trace flags, and whether the parent is remote (bits 8 and 9). */
function spanFlags(context: SpanContext, parentIsRemote: boolean | undefined): number {
  return (context.traceFlags & 0xff) | 0x100 | (parentIsRemote ? 0x200 : 0);
}

function event(w: ProtoWriter, timed: TimedEvent): void {
  w.tag(1, FIXED64);
  w.hrTime(timed.time);
  w.tag(2, LEN);
  w.string(timed.name);
  if (timed.attributes) keyValues(w, timed.attributes, 3);
  w.tag(4, VARINT);
  w.uint32(timed.droppedAttributesCount || 0);
}

/** One Span message (trace.proto), without tag or length. */
export function encodeSpan(w: ProtoWriter, span: ReadableSpan): void {
  const context = span.spanContext();
  w.tag(1, LEN);
  w.hexId(context.traceId);
  w.tag(2, LEN);
  w.hexId(context.spanId);
  const traceState = context.traceState?.serialize();
  if (traceState) {
    w.tag(3, LEN);
    w.string(traceState);
  }
  const parent = span.parentSpanContext;
  if (parent?.spanId) {
    w.tag(4, LEN);
    w.hexId(parent.spanId);
  }
  w.tag(5, LEN);
  w.string(span.name);
  // SpanKind in the API starts at INTERNAL = 0; in the proto 0 is UNSPECIFIED.
  w.tag(6, VARINT);
  w.uint32(span.kind + 1);
  w.tag(7, FIXED64);
  w.hrTime(span.startTime);
  w.tag(8, FIXED64);
  w.hrTime(span.endTime);
  keyValues(w, span.attributes, 9);
  w.tag(10, VARINT);
  w.uint32(span.droppedAttributesCount);
  for (const timed of span.events) {
    w.tag(11, LEN);
    const start = w.beginLength();
    event(w, timed);
    w.endLength(start);
  }
  w.tag(12, VARINT);
  w.uint32(span.droppedEventsCount);
  for (const link of span.links) {
    w.tag(13, LEN);
    const start = w.beginLength();
    w.tag(1, LEN);
    w.hexId(link.context.traceId);
    w.tag(2, LEN);
    w.hexId(link.context.spanId);
    const linkState = link.context.traceState?.serialize();
    if (linkState) {
      w.tag(3, LEN);
      w.string(linkState);
    }
    if (link.attributes) keyValues(w, link.attributes, 4);
    w.tag(5, VARINT);
    w.uint32(link.droppedAttributesCount || 0);
    w.tag(6, FIXED32);
    w.fixed32(spanFlags(link.context, link.context.isRemote));
    w.endLength(start);
  }
  w.tag(14, VARINT);
  w.uint32(span.droppedLinksCount);
  // Status { message = 2, code = 3 }
  w.tag(15, LEN);
  const status = w.beginLength();
  if (span.status.message) {
    w.tag(2, LEN);
    w.string(span.status.message);
  }
  w.tag(3, VARINT);
  w.uint32(span.status.code);
  w.endLength(status);
  w.tag(16, FIXED32);
  w.fixed32(spanFlags(context, parent?.isRemote));
}

/** One LogRecord message (logs.proto), without tag or length. */
export function encodeLogRecord(w: ProtoWriter, record: ReadableLogRecord): void {
  w.tag(1, FIXED64);
  w.hrTime(record.hrTime);
  if (record.severityNumber !== undefined && record.severityNumber !== 0) {
    w.tag(2, VARINT);
    w.uint32(record.severityNumber);
  }
  if (record.severityText) {
    w.tag(3, LEN);
    w.string(record.severityText);
  }
  if (record.body !== undefined) {
    w.tag(5, LEN);
    const body = w.beginLength();
    anyValue(w, record.body as AttributeValue);
    w.endLength(body);
  }
  keyValues(w, record.attributes, 6);
  w.tag(7, VARINT);
  w.uint32(record.droppedAttributesCount);
  const context = record.spanContext;
  if (context?.traceFlags) {
    w.tag(8, FIXED32);
    w.fixed32(context.traceFlags);
  }
  if (context?.traceId) {
    w.tag(9, LEN);
    w.hexId(context.traceId);
  }
  if (context?.spanId) {
    w.tag(10, LEN);
    w.hexId(context.spanId);
  }
  w.tag(11, FIXED64);
  w.hrTime(record.hrTimeObserved);
  if (record.eventName) {
    w.tag(12, LEN);
    w.string(record.eventName);
  }
}
