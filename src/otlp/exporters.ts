/**
 * OTLP/HTTP exporters for traces, metrics and logs on `fetch`, the same on Node, Deno and Bun.
 *
 * The official serializers from otlp-transformer encode the requests, so the bytes are those
 * of the official exporters; spans and log records in protobuf arrive already encoded, with
 * the same bytes, from the encoding batch processors (encoding-batch-processor.ts). Each
 * exporter hands its requests to an outage buffer (delivery.ts), which sends them in order,
 * retries what the collector could not take and holds it through an outage: `export()`
 * reports success once a request is held for delivery, and the exporter counts, reports and
 * measures every item it could not deliver. `forceFlush()` waits for delivery at most the
 * export timeout; `shutdown()` at most its own time, then counts what is left as lost.
 */
import { diag } from '@opentelemetry/api';
import { type ExportResult, ExportResultCode } from '@opentelemetry/core';
import {
  type ISerializer,
  JsonLogsSerializer,
  JsonMetricsSerializer,
  JsonTraceSerializer,
  ProtobufLogsSerializer,
  ProtobufMetricsSerializer,
  ProtobufTraceSerializer,
} from '@opentelemetry/otlp-transformer';
import type { LogRecordExporter, ReadableLogRecord } from '@opentelemetry/sdk-logs';
import {
  AggregationTemporality,
  type DataPoint,
  InstrumentType,
  type PushMetricExporter,
  type ResourceMetrics,
} from '@opentelemetry/sdk-metrics';
import type { ReadableSpan, SpanExporter } from '@opentelemetry/sdk-trace';
import type { OtlpExporterConfig, TemporalityPreference } from '../config.ts';
import { USER_AGENT } from '../version.ts';
import { createFetchTransport, type FetchTransport } from './fetch-transport.ts';
import { errorTypeOf, type ExportError, exportError, reasonOf } from './export-error.ts';
import {
  type BackoffOptions,
  createDeliveryBudget,
  createDeliveryQueue,
  type DeliveryBudget,
  type DeliveryQueue,
} from './delivery.ts';
import { type CancelTimer, createLossReporter, type LossReporter } from './loss-reporter.ts';
import type { ExporterTally, OtlpHealth, TelemetrySignal } from './self-metrics.ts';
import { LostAtShutdownError } from './shutdown-loss.ts';

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
 * Requests in flight per exporter while the collector answers; the others wait their turn in
 * the outage buffer. The batch processors hand over one batch at a time, so 4 keeps up with
 * a collector that takes a while to answer without sending much that may have to be sent again.
 */
export const DEFAULT_CONCURRENCY_LIMIT = 4;

/**
 * The outage buffer's default bound, for every signal together: 32 MiB of encoded requests,
 * enough for a minute's outage of a busy service (sizing: docs/reliability.md).
 */
export const DEFAULT_BUFFER_BYTES = 32 * 1024 * 1024;

/**
 * How the OTLP exporters and processors deliver, beyond where to (their {@link OtlpExporterConfig}):
 * a shared outage buffer, retries, concurrency, the `fetch` they send with, and clocks for
 * tests. Every option is optional; the defaults follow the specification and the official exporters.
 */
export interface OtlpExporterOptions extends BackoffOptions {
  /** Requests in flight while the collector answers. @default 4 */
  concurrencyLimit?: number;
  /**
   * The bound on what the exporter holds for delivery; give one to several exporters to bound
   * them together. @default a budget of 32 MiB of the exporter's own
   */
  budget?: DeliveryBudget;
  /**
   * How long `shutdown()` keeps delivering what is held before counting it as lost.
   * @default the export timeout (`timeoutMillis` of the exporter's configuration)
   */
  shutdownTimeoutMillis?: number;
  /**
   * Told what the exporter delivers, fails by `error.type` and holds, as `registerOTel()` does
   * to report the `otel.sdk.exporter.*` metrics. @default none: nothing is counted
   */
  health?: OtlpHealth;
  /**
   * Send each request to fetch as a one-chunk stream with its length (the fetch transport's
   * `streamBody`: cheaper on Node). @default false
   */
  streamBody?: boolean;
  /** How often dropped items are reported at most. @default 10000 */
  lossReportIntervalMillis?: number;
  /** A monotonic clock in milliseconds, with `setTimer`: a fake clock in tests. */
  now?: () => number;
  /** Starts a one-shot timer for pauses, flushes and loss reports. */
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
  name: TelemetrySignal;
  noun: readonly [singular: string, plural: string];
  /** The `otel.component.type` of the official exporters. */
  componentType: { protobuf: string; json: string };
  serializers: { protobuf: ISerializer<Items, unknown>; json: ISerializer<Items, unknown> };
  countItems(items: Items): number;
  /** The `Export*PartialSuccess` field that counts rejected items. */
  rejectedField: string;
}

function countDataPoints(metrics: ResourceMetrics): number {
  let points = 0;
  for (const scope of metrics.scopeMetrics) {
    for (const metric of scope.metrics) points += (metric.dataPoints as DataPoint<unknown>[]).length;
  }
  return points;
}

const TRACES: Signal<ReadableSpan[]> = {
  name: 'traces',
  noun: ['span', 'spans'],
  componentType: { protobuf: 'otlp_http_span_exporter', json: 'otlp_http_json_span_exporter' },
  serializers: { protobuf: ProtobufTraceSerializer, json: JsonTraceSerializer },
  countItems: (spans) => spans.length,
  rejectedField: 'rejectedSpans',
};

const METRICS: Signal<ResourceMetrics> = {
  name: 'metrics',
  noun: ['metric data point', 'metric data points'],
  componentType: { protobuf: 'otlp_http_metric_exporter', json: 'otlp_http_json_metric_exporter' },
  serializers: { protobuf: ProtobufMetricsSerializer, json: JsonMetricsSerializer },
  countItems: countDataPoints,
  rejectedField: 'rejectedDataPoints',
};

const LOGS: Signal<ReadableLogRecord[]> = {
  name: 'logs',
  noun: ['log record', 'log records'],
  componentType: { protobuf: 'otlp_http_log_exporter', json: 'otlp_http_json_log_exporter' },
  serializers: { protobuf: ProtobufLogsSerializer, json: JsonLogsSerializer },
  countItems: (records) => records.length,
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
  return { ...signal, serializers: { protobuf: passThrough, json: passThrough }, countItems: (batch) => batch.count };
}

/** A view over much more memory than it shows would hold all of it: such requests are copied. */
function compact(bytes: Uint8Array): Uint8Array {
  return bytes.buffer.byteLength > bytes.byteLength * 1.25 + 1024 ? bytes.slice() : bytes;
}

class OtlpHttpExporter<Items> {
  #signal: Signal<Items>;
  #serializer: ISerializer<Items, unknown>;
  #transport: FetchTransport;
  #queue: DeliveryQueue;
  #endpoint: string;
  #losses: LossReporter;
  #tally: ExporterTally | undefined;
  #timeoutMillis: number;
  #shutdownTimeoutMillis: number;
  /** Requests being serialized and compressed, in order, before the queue takes them. */
  #preparing: Promise<void> = Promise.resolve();
  /** Items exported but not yet in the queue. */
  #preparingItems = 0;
  #lostAtShutdown = 0;
  #shutdownReason: ExportError | undefined;
  #shutdown: Promise<void> | undefined;

  constructor(signal: Signal<Items>, config: OtlpExporterConfig, options: OtlpExporterOptions) {
    const json = config.protocol === 'http/json';
    this.#signal = signal;
    this.#serializer = json ? signal.serializers.json : signal.serializers.protobuf;
    this.#timeoutMillis = config.timeoutMillis;
    this.#shutdownTimeoutMillis = options.shutdownTimeoutMillis ?? config.timeoutMillis;
    this.#losses = createLossReporter({
      noun: signal.noun,
      intervalMillis: options.lossReportIntervalMillis,
      now: options.now,
      setTimer: options.setTimer,
      report: options.reportLoss,
    });
    this.#transport = createFetchTransport({
      url: config.url,
      contentType: json ? 'application/json' : 'application/x-protobuf',
      headers: config.headers,
      compression: config.compression,
      userAgent: OTLP_USER_AGENT,
      streamBody: options.streamBody,
      fetch: options.fetch,
    });
    this.#endpoint = this.#transport.endpoint;
    this.#queue = createDeliveryQueue({
      ...options,
      send: (body, timeoutMillis, signal) => this.#transport.send(body, timeoutMillis, signal),
      abort: () => this.#transport.shutdown(),
      budget: options.budget ?? createDeliveryBudget(DEFAULT_BUFFER_BYTES),
      // The spec's "maximum time the OTLP exporter will wait for each batch export", per request.
      attemptTimeoutMillis: config.timeoutMillis,
      concurrency: options.concurrencyLimit ?? DEFAULT_CONCURRENCY_LIMIT,
      endpoint: this.#endpoint,
      onDelivered: (batch, data) => this.#onDelivered(batch.count, data),
      onLost: (batch, error, atClose) => this.#lose(batch.count, error, atClose),
    });
    this.#tally = options.health?.exporter(
      signal.name,
      json ? signal.componentType.json : signal.componentType.protobuf,
      this.#endpoint,
      () => this.heldItems,
    );
  }

  export(items: Items, done: (result: ExportResult) => void): void {
    let count: number;
    try {
      count = this.#signal.countItems(items);
    } catch (error) {
      done({
        code: ExportResultCode.FAILED,
        error: exportError(`cannot count the items to export: ${reasonOf(error)}`, 'invalid_data'),
      });
      return;
    }
    // Empty envelopes SHOULD NOT be sent (opentelemetry-proto, "Empty Telemetry Envelopes").
    if (count === 0) return done({ code: ExportResultCode.SUCCESS });
    if (this.#shutdown) {
      const error = exportError(`the exporter to ${this.#endpoint} is shut down`, 'shutdown');
      this.#lose(count, error, false);
      return done({ code: ExportResultCode.FAILED, error });
    }
    // export() runs inside the span.end() or emit() that filled a batch, that is, inside some
    // request's handler: a task of its own keeps serializing off that request.
    this.#preparingItems += count;
    const serialized = new Promise<Uint8Array | ExportError>((resolve) => {
      setTimeout(() => {
        try {
          const bytes = this.#serializer.serializeRequest(items);
          resolve(bytes ? compact(bytes) : exportError('the serializer made nothing of them', 'serialization_failed'));
        } catch (error) {
          // The serializer threw: the items cannot be encoded, now or later.
          resolve(exportError(`they cannot be serialized: ${reasonOf(error)}`, 'serialization_failed', error));
        }
      }, 0);
    });
    // Compression is asynchronous: the chain keeps requests in the order they were exported.
    this.#preparing = this.#preparing.then(async () => {
      try {
        const data = await serialized;
        const body = data instanceof Uint8Array ? await this.#transport.prepare(data) : data;
        if (!(body instanceof Uint8Array)) throw body;
        this.#preparingItems -= count;
        // The queue counts what it cannot hold, so a refusal is only passed on here.
        if (this.#queue.add(body, count)) done({ code: ExportResultCode.SUCCESS });
        else done({ code: ExportResultCode.FAILED, error: exportError('the outage buffer is full', 'buffer_full') });
      } catch (error) {
        this.#preparingItems -= count;
        const failure = error as ExportError;
        this.#lose(count, failure, false);
        done({ code: ExportResultCode.FAILED, error: failure });
      }
    });
  }

  /** Waits for what was exported so far to be delivered, no longer than the export timeout. */
  async forceFlush(): Promise<void> {
    await this.#preparing;
    await this.#queue.flush(this.#timeoutMillis);
  }

  /**
   * Delivers what it holds for at most its shutdown time, then gives up on the rest and
   * rejects with a {@link LostAtShutdownError} that counts it. Idempotent.
   */
  shutdown(): Promise<void> {
    this.#shutdown ??= (async () => {
      await this.#preparing;
      await this.#queue.close(this.#shutdownTimeoutMillis);
      this.#transport.shutdown();
      this.#losses.flush();
      if (this.#lostAtShutdown > 0) {
        throw new LostAtShutdownError(
          this.#signal.name,
          this.#signal.noun,
          this.#lostAtShutdown,
          this.#shutdownReason?.reason ?? 'the exporter was shut down',
        );
      }
    })();
    return this.#shutdown;
  }

  /** Items not yet delivered nor given up: being serialized, waiting for delivery or in flight. */
  get heldItems(): number {
    return this.#preparingItems + this.#queue.heldItems;
  }

  /** Items lost before they reached the exporter, reported with its own losses. */
  recordLoss(count: number, reason: string): void {
    this.#losses.record(count, reason);
  }

  #lose(count: number, error: ExportError, atShutdown: boolean): void {
    this.#tally?.failed(count, errorTypeOf(error));
    if (atShutdown) {
      // Counted in the one line shutdown() ends with, rather than reported on its own.
      this.#lostAtShutdown += count;
      this.#shutdownReason ??= error;
    } else {
      this.#losses.record(count, reasonOf(error));
    }
  }

  /**
   * A 2xx may carry `partial_success`: rejected items are lost (and MUST NOT be retried), and
   * an error message with nothing rejected is a warning from the collector.
   */
  #onDelivered(count: number, data: Uint8Array | undefined): void {
    let rejected = 0;
    if (data !== undefined) {
      try {
        const partial = (this.#serializer.deserializeResponse(data) as PartialSuccess | undefined)?.partialSuccess;
        if (partial != null) {
          rejected = Math.min(count, Math.max(0, Number(partial[this.#signal.rejectedField] ?? 0) || 0));
          const message = typeof partial.errorMessage === 'string' ? partial.errorMessage.trim() : '';
          if (rejected > 0) {
            const reason = `the collector at ${this.#endpoint} rejected them (partial success)${
              message ? `: ${message}` : ''
            }`;
            this.#lose(rejected, exportError(reason, 'rejected'), false);
          } else if (message) {
            diag.warn(
              `The collector at ${this.#endpoint} accepted all ${this.#signal.noun[1]} with a warning: ${message}`,
            );
          }
        }
      } catch (error) {
        // The data is delivered whatever the answer says; it must not turn into a retry.
        diag.warn(`Cannot read the answer of the collector at ${this.#endpoint}: ${reasonOf(error)}`);
      }
    }
    this.#tally?.exported(count - rejected);
  }
}

/**
 * An OTLP/HTTP span exporter on `fetch`, for an SDK you set up yourself (`registerOTel()` makes
 * its own). It sends each batch to `config.url`, the full signal URL such as
 * `http://localhost:4318/v1/traces`, encoded as `config.protocol` says with the official
 * serializers' bytes. `export()` succeeds once the batch is held for delivery: requests go in
 * order, and what the collector cannot take yet (429, 502, 503, 504, a timeout, no answer) is
 * retried with backoff and held through an outage within `options.budget`. What the collector
 * refuses, or the budget pushes out, is counted and reported through `diag.warn`, one line per
 * interval at most. `forceFlush()` waits for delivery at most `config.timeoutMillis`;
 * `shutdown()` at most `options.shutdownTimeoutMillis`, then rejects with an error that counts
 * what it gave up.
 *
 * @example
 * ```ts
 * import { BatchSpanProcessor, TracerProvider } from '@opentelemetry/sdk-trace';
 * import { createOtlpSpanExporter } from '@rolldice/otel';
 *
 * const exporter = createOtlpSpanExporter({
 *   url: 'http://localhost:4318/v1/traces',
 *   protocol: 'http/protobuf',
 *   headers: {},
 *   timeoutMillis: 10_000,
 *   compression: 'none',
 * });
 * const provider = new TracerProvider({ spanProcessors: [new BatchSpanProcessor({ exporter })] });
 * ```
 */
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
 * An OTLP/HTTP metric exporter on `fetch`, for a `PeriodicExportingMetricReader` of an SDK you
 * set up yourself: each collection goes to `config.url`, e.g. `http://localhost:4318/v1/metrics`,
 * with the temporality `temporality` asks for (`cumulative`; `delta` for counters and
 * histograms; `lowmemory` for the synchronous ones only). Delivery, retries, the outage buffer
 * and `options` are as for {@link createOtlpSpanExporter}.
 *
 * @example
 * ```ts
 * import { MeterProvider, PeriodicExportingMetricReader } from '@opentelemetry/sdk-metrics';
 * import { createOtlpMetricExporter } from '@rolldice/otel';
 *
 * const exporter = createOtlpMetricExporter({
 *   url: 'http://localhost:4318/v1/metrics',
 *   protocol: 'http/protobuf',
 *   headers: {},
 *   timeoutMillis: 10_000,
 *   compression: 'none',
 * }, 'delta');
 * const provider = new MeterProvider({ readers: [new PeriodicExportingMetricReader({ exporter })] });
 * ```
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

/**
 * An OTLP/HTTP log record exporter on `fetch`, for a `BatchLogRecordProcessor` of an SDK you
 * set up yourself: each batch goes to `config.url`, e.g. `http://localhost:4318/v1/logs`.
 * Delivery, retries, the outage buffer and `options` are as for {@link createOtlpSpanExporter}.
 *
 * @example
 * ```ts
 * import { BatchLogRecordProcessor, LoggerProvider } from '@opentelemetry/sdk-logs';
 * import { createOtlpLogExporter } from '@rolldice/otel';
 *
 * const exporter = createOtlpLogExporter({
 *   url: 'http://localhost:4318/v1/logs',
 *   protocol: 'http/protobuf',
 *   headers: {},
 *   timeoutMillis: 10_000,
 *   compression: 'none',
 * });
 * const provider = new LoggerProvider({ processors: [new BatchLogRecordProcessor({ exporter })] });
 * ```
 */
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
