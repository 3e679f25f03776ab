/**
 * Reads what the real Collector's file exporters wrote (tools/otelcol/test-file-output.yaml):
 * traces.jsonl, metrics.jsonl and logs.jsonl in one folder, one OTLP/JSON export request per
 * line. Each line is brought into the canonical form of tests/_otlp-decode.ts, then flattened.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { attributesToObject, normalizeOtlpJson } from '../_otlp-decode.ts';

export interface Item {
  /** The resource's attributes as plain values. */
  resource: Record<string, unknown>;
  scope: { name?: string; version?: string };
  /** The item's own attributes as plain values. */
  attrs: Record<string, unknown>;
}

export interface ExportedSpan extends Item {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  kind?: number;
}

export interface ExportedLogRecord extends Item {
  traceId?: string;
  spanId?: string;
  body: unknown;
  severityText?: string;
  severityNumber?: number;
}

/** One data point of a sum or a histogram, with its metric's name. */
export interface ExportedPoint extends Item {
  metric: string;
  type: 'sum' | 'gauge' | 'histogram' | 'exponentialHistogram';
  timeUnixNano: bigint;
  /** A sum's or gauge's value, a histogram's count. */
  value: number;
  /** A histogram's bucket counts. */
  bucketCounts?: number[];
}

export interface FileExport {
  spans: ExportedSpan[];
  logs: ExportedLogRecord[];
  points: ExportedPoint[];
  /** Complete lines read. */
  lines: number;
}

/** The files of `dir`, one per signal, as the Collector's file exporters write them. */
export const EXPORT_FILES = ['traces.jsonl', 'metrics.jsonl', 'logs.jsonl'];

export function readFileExport(dir: string): FileExport {
  const out: FileExport = { spans: [], logs: [], points: [], lines: 0 };
  for (const file of EXPORT_FILES) {
    const path = join(dir, file);
    if (existsSync(path)) readLines(readFileSync(path, 'utf8'), out);
  }
  return out;
}

function readLines(text: string, out: FileExport): void {
  // A line still being written has no newline yet: it is read next time.
  const complete = text.slice(0, text.lastIndexOf('\n') + 1);
  for (const line of complete.split('\n')) {
    if (line.trim() === '') continue;
    out.lines++;
    const doc = normalizeOtlpJson(JSON.parse(line));
    for (const rs of doc.resourceSpans ?? []) {
      const resource = attributesToObject(rs.resource?.attributes);
      for (const ss of rs.scopeSpans ?? []) {
        for (const span of ss.spans ?? []) {
          out.spans.push({ ...span, resource, scope: ss.scope ?? {}, attrs: attributesToObject(span.attributes) });
        }
      }
    }
    for (const rl of doc.resourceLogs ?? []) {
      const resource = attributesToObject(rl.resource?.attributes);
      for (const sl of rl.scopeLogs ?? []) {
        for (const log of sl.logRecords ?? []) {
          out.logs.push({
            ...log,
            body: log.body?.stringValue ?? log.body,
            resource,
            scope: sl.scope ?? {},
            attrs: attributesToObject(log.attributes),
          });
        }
      }
    }
    for (const rm of doc.resourceMetrics ?? []) {
      const resource = attributesToObject(rm.resource?.attributes);
      for (const sm of rm.scopeMetrics ?? []) {
        for (const metric of sm.metrics ?? []) {
          for (const type of ['sum', 'gauge', 'histogram', 'exponentialHistogram'] as const) {
            for (const point of metric[type]?.dataPoints ?? []) {
              const histogram = type === 'histogram' || type === 'exponentialHistogram';
              out.points.push({
                metric: metric.name,
                type,
                resource,
                scope: sm.scope ?? {},
                attrs: attributesToObject(point.attributes),
                timeUnixNano: BigInt(point.timeUnixNano ?? 0),
                value: histogram ? Number(point.count ?? 0) : Number(point.asInt ?? point.asDouble ?? 0),
                bucketCounts: point.bucketCounts?.map(Number),
              });
            }
          }
        }
      }
    }
  }
}

/**
 * The latest point of `metric` for each attribute set among `points` (one service's): with
 * cumulative temporality, these carry the totals.
 */
export function latestPoints(points: ExportedPoint[], metric: string): ExportedPoint[] {
  const latest = new Map<string, ExportedPoint>();
  for (const point of points) {
    if (point.metric !== metric) continue;
    const key = JSON.stringify(Object.entries(point.attrs).sort());
    const seen = latest.get(key);
    if (!seen || point.timeUnixNano > seen.timeUnixNano) latest.set(key, point);
  }
  return [...latest.values()];
}
