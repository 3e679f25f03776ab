/**
 * Counts the items in an OTLP/protobuf export request without decoding it: the sink answers every
 * request on the load generator's core, so it must stay cheap. A full decoder
 * (tests/_otlp-decode.ts) would build every attribute as an object; this walks only the
 * length-delimited fields on the path to the items and skips everything else by length.
 *
 * Field numbers (opentelemetry-proto, collector/* /v1 and {trace,logs,metrics}/v1):
 *   Export{Trace,Logs,Metrics}ServiceRequest.resource_{spans,logs,metrics} = 1
 *   Resource{Spans,Logs,Metrics}.scope_{spans,logs,metrics} = 2
 *   Scope{Spans,Logs,Metrics}.{spans,log_records,metrics} = 2
 *   Metric.{gauge = 5, sum = 7, histogram = 9, exponential_histogram = 10, summary = 11}
 *   each of those .data_points = 1
 */
import { normalizeOtlpJson, type OtlpSignal } from '../../tests/_otlp-decode.ts';

export type Signal = OtlpSignal;

const METRIC_DATA_FIELDS = new Set([5, 7, 9, 10, 11]);

/** Reads a base-128 varint at `pos`; returns [value, next position]. Values here fit in 2^53. */
function varint(bytes: Uint8Array, pos: number): [number, number] {
  let value = 0;
  let scale = 1;
  for (;;) {
    if (pos >= bytes.length) throw new Error('truncated varint');
    const byte = bytes[pos++]!;
    value += (byte & 0x7f) * scale;
    if (byte < 0x80) return [value, pos];
    scale *= 128;
    if (scale > 2 ** 63) throw new Error('varint too long');
  }
}

/**
 * Calls `visit(field, start, end)` for each length-delimited field of the message in
 * bytes[start, end); skips the other wire types.
 */
function eachLengthDelimited(
  bytes: Uint8Array,
  start: number,
  end: number,
  visit: (field: number, start: number, end: number) => void,
): void {
  let pos = start;
  while (pos < end) {
    const [key, afterKey] = varint(bytes, pos);
    const field = Math.floor(key / 8);
    const wireType = key & 7;
    pos = afterKey;
    switch (wireType) {
      case 0: // varint
        pos = varint(bytes, pos)[1];
        break;
      case 1: // 64-bit
        pos += 8;
        break;
      case 5: // 32-bit
        pos += 4;
        break;
      case 2: { // length-delimited
        const [length, afterLength] = varint(bytes, pos);
        pos = afterLength + length;
        if (pos > end) throw new Error('truncated field');
        visit(field, afterLength, pos);
        break;
      }
      default:
        throw new Error(`unsupported wire type ${wireType}`);
    }
  }
  if (pos !== end) throw new Error('truncated message');
}

/** Counts the messages at the end of a path of field numbers (every level repeated). */
function countAtPath(bytes: Uint8Array, start: number, end: number, path: readonly number[]): number {
  let count = 0;
  const [first, ...rest] = path;
  eachLengthDelimited(bytes, start, end, (field, s, e) => {
    if (field !== first) return;
    count += rest.length === 0 ? 1 : countAtPath(bytes, s, e, rest);
  });
  return count;
}

/** Counts the data points of one Metric message. */
function countDataPoints(bytes: Uint8Array, start: number, end: number): number {
  let count = 0;
  eachLengthDelimited(bytes, start, end, (field, s, e) => {
    if (METRIC_DATA_FIELDS.has(field)) count += countAtPath(bytes, s, e, [1]);
  });
  return count;
}

/** Spans, log records or metric data points in a protobuf export request. */
export function countProtobuf(signal: Signal, bytes: Uint8Array): number {
  if (signal !== 'metrics') return countAtPath(bytes, 0, bytes.length, [1, 2, 2]);
  let points = 0;
  // resource_metrics (1) → scope_metrics (2) → metrics (2) → data points
  eachLengthDelimited(bytes, 0, bytes.length, (f1, s1, e1) => {
    if (f1 !== 1) return;
    eachLengthDelimited(bytes, s1, e1, (f2, s2, e2) => {
      if (f2 !== 2) return;
      eachLengthDelimited(bytes, s2, e2, (f3, s3, e3) => {
        if (f3 === 2) points += countDataPoints(bytes, s3, e3);
      });
    });
  });
  return points;
}

/**
 * The same count for an OTLP/JSON export request, read with the tests' OTLP/JSON reader: a
 * document that does not fit the OTLP schema throws, and the sink counts it as an error.
 */
export function countJson(signal: Signal, text: string): number {
  const doc = normalizeOtlpJson(JSON.parse(text), signal);
  let count = 0;
  if (signal === 'traces') {
    for (const rs of doc.resourceSpans ?? []) for (const ss of rs.scopeSpans ?? []) count += ss.spans?.length ?? 0;
  } else if (signal === 'logs') {
    for (const rl of doc.resourceLogs ?? []) for (const sl of rl.scopeLogs ?? []) count += sl.logRecords?.length ?? 0;
  } else {
    for (const rm of doc.resourceMetrics ?? []) {
      for (const sm of rm.scopeMetrics ?? []) {
        for (const metric of sm.metrics ?? []) {
          const data = metric.gauge ?? metric.sum ?? metric.histogram ?? metric.exponentialHistogram ?? metric.summary;
          count += data?.dataPoints?.length ?? 0;
        }
      }
    }
  }
  return count;
}
