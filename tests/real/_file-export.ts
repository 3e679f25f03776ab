/**
 * Reads what the real Collector's file exporters wrote (tools/otelcol/test-file-output.yaml):
 * traces.jsonl, metrics.jsonl and logs.jsonl in one folder, one OTLP/JSON export request per
 * line. Each line is brought into the canonical form of tests/_otlp-decode.ts, then flattened.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  attributesToObject,
  type FlatLogRecord,
  type FlatSpan,
  flattenLogRecords,
  flattenMetrics,
  flattenSpans,
  normalizeOtlpJson,
} from '../_otlp-decode.ts';

/** A data point of a sum, gauge or histogram, with its metric's name and its attributes as plain values. */
export interface ExportedPoint {
  metric: string;
  type: 'sum' | 'gauge' | 'histogram' | 'exponentialHistogram';
  resource: Record<string, unknown>;
  attributesObject: Record<string, unknown>;
  timeUnixNano: bigint;
  /** A sum's or gauge's value, a histogram's count. */
  value: number;
  /** A histogram's bucket counts. */
  bucketCounts?: number[];
}

export interface FileExport {
  spans: FlatSpan[];
  logs: FlatLogRecord[];
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
  const requests = complete.split('\n').filter((line) => line.trim() !== '').map((line) =>
    normalizeOtlpJson(JSON.parse(line))
  );
  out.lines += requests.length;
  out.spans.push(...flattenSpans(requests));
  out.logs.push(...flattenLogRecords(requests));
  for (const metric of flattenMetrics(requests)) {
    const kinds = [
      ['sum', metric.sum?.dataPoints],
      ['gauge', metric.gauge?.dataPoints],
      ['histogram', metric.histogram?.dataPoints],
      ['exponentialHistogram', metric.exponentialHistogram?.dataPoints],
    ] as const;
    for (const [type, points] of kinds) {
      for (const point of points ?? []) {
        const counted = 'count' in point ? point.count : undefined;
        const numeric = 'asInt' in point || 'asDouble' in point
          ? (point as { asInt?: unknown; asDouble?: unknown })
          : {};
        out.points.push({
          metric: metric.name ?? '',
          type,
          resource: metric.resource,
          attributesObject: attributesToObject(point.attributes),
          timeUnixNano: BigInt(point.timeUnixNano ?? 0),
          value: Number(counted ?? numeric.asInt ?? numeric.asDouble ?? 0),
          bucketCounts: 'bucketCounts' in point
            ? (point.bucketCounts as unknown[] | undefined)?.map(Number)
            : undefined,
        });
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
    const key = JSON.stringify(Object.entries(point.attributesObject).sort());
    const seen = latest.get(key);
    if (!seen || point.timeUnixNano > seen.timeUnixNano) latest.set(key, point);
  }
  return [...latest.values()];
}
