import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import type { LogRecordExporter, ReadableLogRecord } from '@opentelemetry/sdk-logs';
import type { PushMetricExporter, ResourceMetrics } from '@opentelemetry/sdk-metrics';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import { JsonLogsSerializer, JsonMetricsSerializer, JsonTraceSerializer } from '@opentelemetry/otlp-transformer';

// The SDKs' own console exporters print with `console.dir`, whose format differs between
// Node, Deno and Bun. These print each batch as the OTLP/JSON request the OTLP exporter
// would send, indented: the same text on every runtime, readable, and parseable by tools.

interface Serializer<T> {
  serializeRequest(items: T): Uint8Array | undefined;
}

const decoder = new TextDecoder();

function exportAsJson<T>(
  serializer: Serializer<T>,
  write: (text: string) => void,
  items: T,
  done: (result: ExportResult) => void,
): void {
  try {
    const bytes = serializer.serializeRequest(items);
    if (bytes) write(JSON.stringify(JSON.parse(decoder.decode(bytes)), null, 2));
    done({ code: ExportResultCode.SUCCESS });
  } catch (error) {
    done({ code: ExportResultCode.FAILED, error: error instanceof Error ? error : new Error(String(error)) });
  }
}

/**
 * A span exporter that prints each batch to `write` as indented OTLP/JSON: the request an OTLP
 * exporter would send, the same text on every runtime (`exporters: ['console']` of `registerOTel()`).
 *
 * @example
 * ```ts
 * import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
 * import { createConsoleSpanExporter } from '@rolldice/otel';
 *
 * const exporter = createConsoleSpanExporter((text) => console.log(text));
 * const provider = new TracerProvider({ spanProcessors: [new BatchSpanProcessor({ exporter })] });
 * ```
 */
export function createConsoleSpanExporter(write: (text: string) => void): SpanExporter {
  return {
    export: (spans: ReadableSpan[], done) => exportAsJson(JsonTraceSerializer, write, spans, done),
    shutdown: () => Promise.resolve(),
    forceFlush: () => Promise.resolve(),
  };
}

/**
 * A metric exporter that prints each collection to `write` as indented OTLP/JSON, with
 * cumulative temporality.
 *
 * @example
 * ```ts
 * import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
 * import { createConsoleMetricExporter } from '@rolldice/otel';
 *
 * const exporter = createConsoleMetricExporter((text) => console.log(text));
 * const provider = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter })] });
 * ```
 */
export function createConsoleMetricExporter(write: (text: string) => void): PushMetricExporter {
  return {
    export: (metrics: ResourceMetrics, done) => exportAsJson(JsonMetricsSerializer, write, metrics, done),
    shutdown: () => Promise.resolve(),
    forceFlush: () => Promise.resolve(),
  };
}

/**
 * A log record exporter that prints each batch to `write` as indented OTLP/JSON.
 *
 * @example
 * ```ts
 * import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
 * import { createConsoleLogExporter } from '@rolldice/otel';
 *
 * const exporter = createConsoleLogExporter((text) => console.log(text));
 * const provider = new LoggerProvider({ processors: [new BatchLogRecordProcessor({ exporter })] });
 * ```
 */
export function createConsoleLogExporter(write: (text: string) => void): LogRecordExporter {
  return {
    export: (records: ReadableLogRecord[], done) => exportAsJson(JsonLogsSerializer, write, records, done),
    shutdown: () => Promise.resolve(),
    forceFlush: () => Promise.resolve(),
  };
}
