/**
 * OTLP/HTTP exporters for traces, metrics and logs on `fetch`, the same on Node, Deno and Bun.
 *
 * The official serializers from otlp-transformer encode the requests, so the bytes are those
 * of the official exporters; spans and log records in protobuf arrive already encoded, with
 * the same bytes, from the encoding batch processors (encoding-batch-processor.ts).
 * otlp-exporter-base's network export delegate does the export plumbing (serialize, send,
 * track what is in flight, flush); this module adds what it lacks: a fetch transport with gzip,
 * a retry layer bounded by the export deadline, a cap on exports in flight that says what it
 * dropped, loss accounting, and a shutdown that is bounded and idempotent.
 */
import { diag } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import {
  createOtlpNetworkExportDelegate,
  ExporterMetrics,
  type IExporterTransport,
  type IOtlpExportDelegate,
} from '@opentelemetry/otlp-exporter-base';
import {
  type IExporterMetricsHelper,
  type ISerializer,
  JsonLogsSerializer,
  JsonMetricsSerializer,
  JsonTraceSerializer,
  LogsExporterMetricsHelper,
  MetricsExporterMetricsHelper,
  ProtobufLogsSerializer,
  ProtobufMetricsSerializer,
  ProtobufTraceSerializer,
  TraceExporterMetricsHelper,
} from '@opentelemetry/otlp-transformer';
import type { LogRecordExporter, ReadableLogRecord } from '@opentelemetry/sdk-logs';
import {
  AggregationTemporality,
  InstrumentType,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import type { OtlpExporterConfig, TemporalityPreference } from '../config.ts';
import { USER_AGENT } from '../version.ts';
import { createFetchTransport, type FetchTransport } from './fetch-transport.ts';
import { exportError, reasonOf } from './export-error.ts';
import { settlesWithin } from '../deadline.ts';
import { type CancelTimer, createLossReporter, type LossReporter } from './loss-reporter.ts';
import { createRetryingTransport, type RetryOptions } from './retrying-transport.ts';

/**
 * The version of @opentelemetry/otlp-transformer, whose serializers make the requests; the
 * official exporters of that release send the same bytes and the same User-Agent token.
 */
export const OTLP_TRANSFORMER_VERSION = '0.301.1';

/**
 * The spec asks exporters to name themselves, their language and version in the User-Agent
 * (specification/protocol/exporter.md, "User Agent"): this package's exporter, not the
 * official one, whose serializers it only borrows.
 */
export const OTLP_USER_AGENT = USER_AGENT;

/**
 * At most this many exports in flight per exporter; a further one fails at once and is
 * counted as dropped, as in the official delegate, instead of queueing: a queue here would
 * grow without bound behind a dead collector (a SimpleSpanProcessor exports every span).
 * The batch processors export one batch at a time, and at most queue / batch size + 1
 * (5 by default) during forceFlush, so 8 leaves room without holding much memory.
 */
export const DEFAULT_CONCURRENCY_LIMIT = 8;

/** Knobs for tests and embedders; the defaults follow the spec and the official exporters. */
export interface OtlpExporterOptions extends RetryOptions {
  /** @default DEFAULT_CONCURRENCY_LIMIT */
  concurrencyLimit?: number;
  /**
   * Send each request to fetch as a one-chunk stream with its length (the fetch transport's
   * `streamBody`: cheaper on Node). @default false
   */
  streamBody?: boolean;
  /** How often dropped items are reported at most. @default 10000 */
  lossReportIntervalMillis?: number;
  /** For the loss report, with `now`: a fake clock in tests. */
  setTimer?: (callback: () => void, millis: number) => CancelTimer;
  /** Replaces `diag.warn` for loss reports. */
  reportLoss?: (message: string) => void;
  /**
   * The fetch that sends the requests: a proxy's, a test double, a platform binding.
   * @default globalThis.fetch at the time of each request
   */
  fetch?: typeof fetch;
}

interface PartialSuccess {
  partialSuccess?: { errorMessage?: string } & Record<string, unknown>;
}

interface Signal<Items> {
  noun: readonly [singular: string, plural: string];
  /** The `otel.component.type` of the official exporters, for ExporterMetrics. */
  componentType: { protobuf: string; json: string };
  serializers: { protobuf: ISerializer<Items, unknown>; json: ISerializer<Items, unknown> };
  metricsHelper: IExporterMetricsHelper<Items>;
  /** The `Export*PartialSuccess` field that counts rejected items. */
  rejectedField: string;
}

const TRACES: Signal<ReadableSpan[]> = {
  noun: ['span', 'spans'],
  componentType: { protobuf: 'otlp_http_span_exporter', json: 'otlp_http_json_span_exporter' },
  serializers: { protobuf: ProtobufTraceSerializer, json: JsonTraceSerializer },
  metricsHelper: TraceExporterMetricsHelper,
  rejectedField: 'rejectedSpans',
};

const METRICS: Signal<ResourceMetrics> = {
  noun: ['metric data point', 'metric data points'],
  componentType: { protobuf: 'otlp_http_metric_exporter', json: 'otlp_http_json_metric_exporter' },
  serializers: { protobuf: ProtobufMetricsSerializer, json: JsonMetricsSerializer },
  metricsHelper: MetricsExporterMetricsHelper,
  rejectedField: 'rejectedDataPoints',
};

const LOGS: Signal<ReadableLogRecord[]> = {
  noun: ['log record', 'log records'],
  componentType: { protobuf: 'otlp_http_log_exporter', json: 'otlp_http_json_log_exporter' },
  serializers: { protobuf: ProtobufLogsSerializer, json: JsonLogsSerializer },
  metricsHelper: LogsExporterMetricsHelper,
  rejectedField: 'rejectedLogRecords',
};

/** An export request already encoded (by src/otlp/encoding-batch-processor.ts) and what it holds. */
export interface EncodedBatch {
  bytes: Uint8Array;
  count: number;
}

/** The protobuf serializer's place for requests that are already bytes. */
function encodedSignal(signal: Signal<ReadableSpan[]> | Signal<ReadableLogRecord[]>): Signal<EncodedBatch> {
  const passThrough: ISerializer<EncodedBatch, unknown> = {
    serializeRequest: (batch) => batch.bytes,
    deserializeResponse: (body) => signal.serializers.protobuf.deserializeResponse(body),
  };
  return {
    ...signal,
    serializers: { protobuf: passThrough, json: passThrough },
    metricsHelper: { name: signal.metricsHelper.name, countItems: (batch) => batch.count },
  };
}

class OtlpHttpExporter<Items> {
  #delegate: IOtlpExportDelegate<Items>;
  #transport: IExporterTransport;
  #endpoint: string;
  #losses: LossReporter;
  #countItems: (items: Items) => number;
  #concurrencyLimit: number;
  #timeoutMillis: number;
  #inFlight = 0;
  /** Exports accepted by export() whose serialization has not started yet. */
  #starting = new Set<Promise<void>>();
  #shutdown: Promise<void> | undefined;

  constructor(signal: Signal<Items>, config: OtlpExporterConfig, options: OtlpExporterOptions) {
    const json = config.protocol === 'http/json';
    const serializer = json ? signal.serializers.json : signal.serializers.protobuf;
    this.#concurrencyLimit = options.concurrencyLimit ?? DEFAULT_CONCURRENCY_LIMIT;
    this.#timeoutMillis = config.timeoutMillis;
    this.#countItems = signal.metricsHelper.countItems;
    this.#losses = createLossReporter({
      noun: signal.noun,
      intervalMillis: options.lossReportIntervalMillis,
      now: options.now,
      setTimer: options.setTimer,
      report: options.reportLoss,
    });
    const fetchTransport: FetchTransport = createFetchTransport({
      url: config.url,
      contentType: json ? 'application/json' : 'application/x-protobuf',
      headers: config.headers,
      compression: config.compression,
      userAgent: OTLP_USER_AGENT,
      streamBody: options.streamBody,
      fetch: options.fetch,
      // Read here rather than by the delegate, whose warning names neither endpoint nor signal.
      onSuccessBody: (body) => this.#onPartialSuccess(serializer.deserializeResponse(body), signal),
    });
    this.#endpoint = fetchTransport.endpoint;
    this.#transport = createRetryingTransport(fetchTransport, options);
    this.#delegate = createOtlpNetworkExportDelegate(
      // `#inFlight` is the bound: it is released as the callback runs, the delegate's own count
      // a microtask later, so its limit would refuse an export made from the callback.
      {
        timeoutMillis: config.timeoutMillis,
        concurrencyLimit: Number.POSITIVE_INFINITY,
        compression: config.compression,
      },
      serializer,
      // Without a MeterProvider it records nothing; the delegate requires one.
      new ExporterMetrics({
        componentType: json ? signal.componentType.json : signal.componentType.protobuf,
        metricsHelper: signal.metricsHelper,
        url: fetchTransport.endpoint,
        meterProvider: undefined,
        responseAttributesFromError: () => ({}),
      }),
      this.#transport,
    );
  }

  export(items: Items, done: (result: ExportResult) => void): void {
    let count: number;
    try {
      count = this.#countItems(items);
    } catch (error) {
      done({
        code: ExportResultCode.FAILED,
        error: exportError(`cannot count the items to export: ${reasonOf(error)}`),
      });
      return;
    }
    if (this.#shutdown) return this.#fail(count, `the exporter to ${this.#endpoint} is shut down`, done);
    // Empty envelopes SHOULD NOT be sent (opentelemetry-proto, "Empty Telemetry Envelopes").
    if (count === 0) return done({ code: ExportResultCode.SUCCESS });
    if (this.#inFlight >= this.#concurrencyLimit) {
      return this.#fail(count, `${this.#concurrencyLimit} exports to ${this.#endpoint} were already in flight`, done);
    }
    this.#inFlight++;
    let settled = false;
    const finish = (result: ExportResult) => {
      if (settled) return;
      settled = true;
      this.#inFlight--;
      if (result.code !== ExportResultCode.SUCCESS) {
        this.#losses.record(count, reasonOf(result.error ?? 'the export failed'));
      }
      done(result);
    };
    // The batch processors call export() synchronously from the span.end() or emit() that
    // filled a batch, that is, inside some request's handler: serializing 512 items there
    // (1-3 ms) would land on that request and on every one queued behind it. A task of its
    // own lets the request be answered first.
    const started = new Promise<void>((resolve) => {
      setTimeout(() => {
        this.#starting.delete(started);
        resolve();
        try {
          this.#delegate.export(items, finish);
        } catch (error) {
          // The serializer threw: the items cannot be encoded, now or later.
          finish({
            code: ExportResultCode.FAILED,
            error: exportError(`they cannot be serialized: ${reasonOf(error)}`, error),
          });
        }
      }, 0);
    });
    this.#starting.add(started);
  }

  /** Waits for the exports not yet handed to the delegate, then for everything in flight. */
  async forceFlush(): Promise<void> {
    while (this.#starting.size > 0) await Promise.all(this.#starting);
    return this.#delegate.forceFlush();
  }

  /** Waits for the exports in flight, no longer than the export timeout, then aborts them. */
  shutdown(): Promise<void> {
    this.#shutdown ??= (async () => {
      await settlesWithin(this.forceFlush(), this.#timeoutMillis);
      // Aborts what is still in flight, whose callbacks then record the loss, and stops retries.
      await this.#delegate.shutdown();
      this.#losses.flush();
    })();
    return this.#shutdown;
  }

  /** Items lost before they reached the exporter, reported with its own losses. */
  recordLoss(count: number, reason: string): void {
    this.#losses.record(count, reason);
  }

  #fail(count: number, reason: string, done: (result: ExportResult) => void): void {
    this.#losses.record(count, reason);
    done({ code: ExportResultCode.FAILED, error: exportError(reason) });
  }

  /**
   * A 2xx may carry `partial_success`: rejected items are lost (and MUST NOT be retried), and
   * an error message with nothing rejected is a warning from the collector.
   */
  #onPartialSuccess(response: unknown, signal: Signal<Items>): void {
    const partial = (response as PartialSuccess | undefined)?.partialSuccess;
    if (partial == null) return;
    const rejected = Number(partial[signal.rejectedField] ?? 0);
    const message = typeof partial.errorMessage === 'string' ? partial.errorMessage.trim() : '';
    if (rejected > 0) {
      this.#losses.record(
        rejected,
        `the collector at ${this.#endpoint} rejected them (partial success)${message ? `: ${message}` : ''}`,
      );
    } else if (message) {
      diag.warn(`The collector at ${this.#endpoint} accepted all ${signal.noun[1]} with a warning: ${message}`);
    }
  }
}

/** An OTLP/HTTP span exporter; `options` tune the transport (`streamBody`) and fake time in tests. */
export function createOtlpSpanExporter(config: OtlpExporterConfig, options: OtlpExporterOptions = {}): SpanExporter {
  const exporter = new OtlpHttpExporter(TRACES, config, options);
  return {
    export: (spans, done) => exporter.export(spans, done),
    forceFlush: () => exporter.forceFlush(),
    shutdown: () => exporter.shutdown(),
  };
}

/**
 * The temporality for each instrument kind under `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`
 * (specification/metrics/sdk_exporters/otlp.md): `delta` makes counters, observable counters
 * and histograms delta; `lowmemory` only synchronous counters and histograms, whose delta
 * needs no state; up-down counters and gauges stay cumulative.
 */
export function selectTemporality(
  preference: TemporalityPreference,
  instrumentType: InstrumentType,
): AggregationTemporality {
  const { DELTA, CUMULATIVE } = AggregationTemporality;
  switch (instrumentType) {
    case InstrumentType.COUNTER:
    case InstrumentType.HISTOGRAM:
      return preference === 'cumulative' ? CUMULATIVE : DELTA;
    case InstrumentType.OBSERVABLE_COUNTER:
      return preference === 'delta' ? DELTA : CUMULATIVE;
    default:
      return CUMULATIVE;
  }
}

/**
 * An OTLP/HTTP metric exporter with the temporality `temporality` asks for; `options` tune the
 * transport (`streamBody`) and fake time in tests.
 */
export function createOtlpMetricExporter(
  config: OtlpExporterConfig,
  temporality: TemporalityPreference,
  options: OtlpExporterOptions = {},
): PushMetricExporter {
  const exporter = new OtlpHttpExporter(METRICS, config, options);
  return {
    export: (metrics, done) => exporter.export(metrics, done),
    forceFlush: () => exporter.forceFlush(),
    shutdown: () => exporter.shutdown(),
    selectAggregationTemporality: (instrumentType) => selectTemporality(temporality, instrumentType),
  };
}

/** An OTLP/HTTP log record exporter; `options` tune the transport (`streamBody`) and fake time in tests. */
export function createOtlpLogExporter(
  config: OtlpExporterConfig,
  options: OtlpExporterOptions = {},
): LogRecordExporter {
  const exporter = new OtlpHttpExporter(LOGS, config, options);
  return {
    export: (records, done) => exporter.export(records, done),
    forceFlush: () => exporter.forceFlush(),
    shutdown: () => exporter.shutdown(),
  };
}

/** An OTLP/HTTP protobuf exporter of requests encoded beforehand. */
export interface EncodedOtlpExporter {
  export(batch: EncodedBatch, done: (result: ExportResult) => void): void;
  forceFlush(): Promise<void>;
  shutdown(): Promise<void>;
  recordLoss(count: number, reason: string): void;
}

/** The exporter behind the encoding batch processors; `config.protocol` must be http/protobuf. */
export function createEncodedOtlpExporter(
  signal: 'traces' | 'logs',
  config: OtlpExporterConfig,
  options: OtlpExporterOptions = {},
): EncodedOtlpExporter {
  if (config.protocol !== 'http/protobuf') throw new TypeError(`encoded batches are protobuf, not ${config.protocol}`);
  return new OtlpHttpExporter(encodedSignal(signal === 'traces' ? TRACES : LOGS), config, options);
}
