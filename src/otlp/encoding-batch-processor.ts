/**
 * Batch processors for OTLP/HTTP protobuf that encode spans and log records shortly after they
 * end, a few dozen at a time, and queue bytes, not objects.
 *
 * They follow the spec's batching processor (specification/trace/sdk.md, "Batching processor";
 * logs/sdk.md, "Batching processor") and its OTEL_BSP_* / OTEL_BLRP_* settings: a queue of at
 * most maxQueueSize items, beyond which new ones are dropped and reported; a batch of
 * maxExportBatchSize exported as soon as it is full, or scheduledDelayMillis after its first
 * item; one export at a time, given up on after exportTimeoutMillis; forceFlush exports what
 * was queued when it was called; shutdown flushes, then shuts the exporter down. They report
 * their queue and what they processed as the semantic conventions' `otel.sdk.processor.*`
 * metrics (self-metrics.ts).
 *
 * Why not the SDK's BatchSpanProcessor and BatchLogRecordProcessor in front of the OTLP
 * exporter: those keep every span and log record alive until its batch is serialized, so
 * the garbage collector keeps moving them, and they are serialized in one go when the batch is
 * full. Here an item is encoded once, within a few dozen items of its end, into a buffer
 * reused from batch to batch, and is garbage soon after; the encoder is also cheaper than
 * the official serializer, which walks each batch twice (figures: bench/README.md).
 * The request bytes are those the official serializer makes for the same batch.
 */
import { TraceFlags } from '@opentelemetry/api';
import type { InstrumentationScope } from '@opentelemetry/core';
import type { Resource } from '@opentelemetry/resources';
import type { LogRecordProcessor } from '@opentelemetry/sdk-logs';
import type { SpanProcessor } from '@opentelemetry/sdk-trace';
import type { BatchConfig, OtlpExporterConfig } from '../config.ts';
import { reasonOf } from './export-error.ts';
import {
  createEncodedOtlpExporter,
  type EncodedBatch,
  type EncodedOtlpExporter,
  type OtlpExporterOptions,
} from './exporters.ts';
import { encodeLogRecord, encodeResource, encodeScope, encodeSpan, ProtoWriter } from './protobuf-encoding.ts';
import type { ProcessorTally } from './self-metrics.ts';

const LEN = 2;

/** Items are encoded this many at a time: the encoder's code stays hot, and an item still dies young. */
const ENCODE_CHUNK = 32;

interface Group {
  resource: Resource;
  scope: InstrumentationScope;
  /** The group's items, each as `tag(2) length message`: the repeated field of Scope{Spans,Logs}. */
  items: ProtoWriter;
}

/** What the batch groups by: every ReadableSpan and ReadableLogRecord has both. */
export interface Encodable {
  readonly resource: Resource;
  readonly instrumentationScope: InstrumentationScope;
}

/**
 * The batch being filled, grouped by resource and scope in the order they first appear, as
 * the official serializer groups them. The request has the same shape for traces and logs:
 * Export*ServiceRequest { repeated Resource* = 1 }, Resource* { resource = 1, repeated
 * Scope* = 2, schema_url = 3 }, Scope* { scope = 1, repeated items = 2, schema_url = 3 }.
 */
export class BatchEncoder<Item extends Encodable> {
  count = 0;
  #groups: Group[] = [];
  /** Writers of earlier batches, emptied, for the next groups. */
  #spare: ProtoWriter[] = [];
  #encodeItem: (writer: ProtoWriter, item: Item) => void;
  #resources = new WeakMap<Resource, Uint8Array>();
  #scopes = new WeakMap<InstrumentationScope, Uint8Array>();

  constructor(encodeItem: (writer: ProtoWriter, item: Item) => void) {
    this.#encodeItem = encodeItem;
  }

  /** Encodes `item` into the batch; on a throw the batch is as it was. */
  add(item: Item): void {
    const group = this.#group(item.resource, item.instrumentationScope);
    const writer = group.items;
    const mark = writer.pos;
    try {
      writer.tag(2, LEN);
      const start = writer.beginLength();
      this.#encodeItem(writer, item);
      writer.endLength(start);
    } catch (error) {
      writer.pos = mark;
      throw error;
    }
    this.count++;
  }

  /** The export request for everything added since the last seal(), and an empty batch. */
  seal(): EncodedBatch {
    // A group whose only item failed to encode is empty: it is not sent.
    const groups = this.#groups.filter((group) => group.items.pos > 0);
    const out = new ProtoWriter(groups.reduce((size, group) => size + group.items.pos, 1024));
    const done = new Set<Resource>();
    for (const { resource } of groups) {
      if (done.has(resource)) continue;
      done.add(resource);
      out.tag(1, LEN);
      const resourceStart = out.beginLength();
      out.tag(1, LEN);
      out.byteString(cached(this.#resources, resource, encodeResource, !resource.asyncAttributesPending));
      for (const group of groups) {
        if (group.resource !== resource) continue;
        out.tag(2, LEN);
        const scopeStart = out.beginLength();
        out.tag(1, LEN);
        out.byteString(cached(this.#scopes, group.scope, encodeScope, true));
        out.append(group.items.bytes());
        stringField(out, 3, group.scope.schemaUrl);
        out.endLength(scopeStart);
      }
      stringField(out, 3, resource.schemaUrl);
      out.endLength(resourceStart);
    }

    const batch = { bytes: out.bytes(), count: this.count };
    for (const group of this.#groups) {
      group.items.reset();
      this.#spare.push(group.items);
    }
    this.#groups = [];
    this.count = 0;
    return batch;
  }

  #group(resource: Resource, scope: InstrumentationScope): Group {
    for (const group of this.#groups) {
      if (group.scope === scope && group.resource === resource) return group;
    }
    const group = { resource, scope, items: this.#spare.pop() ?? new ProtoWriter() };
    this.#groups.push(group);
    return group;
  }
}

/** `key` encoded by `encode`, from `cache` when it was encoded before; kept there if `final`. */
function cached<K extends object>(
  cache: WeakMap<K, Uint8Array>,
  key: K,
  encode: (writer: ProtoWriter, key: K) => void,
  final: boolean,
): Uint8Array {
  let bytes = cache.get(key);
  if (bytes === undefined) {
    const writer = new ProtoWriter(256);
    encode(writer, key);
    bytes = writer.bytes();
    // A resource whose attributes a detector has still to deliver is not final yet.
    if (final) cache.set(key, bytes);
  }
  return bytes;
}

function stringField(writer: ProtoWriter, field: number, text: string | undefined): void {
  if (!text) return;
  writer.tag(field, LEN);
  writer.string(text);
}

/** The batching processor of the spec over a BatchEncoder; see the module's comment. */
class EncodingBatchProcessor<Item extends Encodable> {
  #encoder: BatchEncoder<Item>;
  #exporter: EncodedOtlpExporter;
  #config: BatchConfig;
  /** What the items are called in loss reports. */
  #plural: string;
  /** Items not yet handed to the exporter, encoded or not: the queue the spec bounds. */
  #queued = 0;
  /** Items not encoded yet. */
  #pending: Item[] = [];
  #sealed: EncodedBatch[] = [];
  #exporting = false;
  #timer: ReturnType<typeof setTimeout> | undefined;
  /** Batches sealed, and batches done (exported, failed or timed out), counted from the start. */
  #sealedCount = 0;
  #doneCount = 0;
  #waiters: { until: number; resolve: () => void }[] = [];
  #shutdown: Promise<void> | undefined;
  #tally: ProcessorTally | undefined;

  constructor(
    signal: 'traces' | 'logs',
    encodeItem: (writer: ProtoWriter, item: Item) => void,
    exporterConfig: OtlpExporterConfig,
    config: BatchConfig,
    options: OtlpExporterOptions,
  ) {
    this.#encoder = new BatchEncoder(encodeItem);
    this.#exporter = createEncodedOtlpExporter(signal, exporterConfig, options);
    this.#config = config;
    this.#plural = signal === 'traces' ? 'spans' : 'log records';
    this.#tally = options.health?.processor(
      signal,
      signal === 'traces' ? 'batching_span_processor' : 'batching_log_processor',
      config.maxQueueSize,
      () => this.#queued,
    );
  }

  add(item: Item): void {
    if (this.#shutdown) {
      this.#tally?.failed(1, 'already_shutdown');
      return;
    }
    if (this.#queued >= this.#config.maxQueueSize) {
      this.#tally?.failed(1, 'queue_full');
      this.#exporter.recordLoss(
        1,
        `the queue of ${this.#config.maxQueueSize} ${this.#plural} waiting for export was full`,
      );
      return;
    }
    this.#pending.push(item);
    this.#queued++;
    if (this.#encoder.count + this.#pending.length >= this.#config.maxExportBatchSize) {
      this.#seal();
      this.#next();
    } else if (this.#pending.length >= ENCODE_CHUNK) {
      this.#encodePending();
    } else if (this.#timer === undefined) {
      this.#timer = setTimeout(() => {
        this.#timer = undefined;
        this.#seal();
        this.#next();
      }, this.#config.scheduledDelayMillis);
      // A pending batch must not keep the process alive (Node and Bun; Deno's timers are numbers).
      (this.#timer as { unref?: () => void }).unref?.();
    }
  }

  #encodePending(): void {
    for (const item of this.#pending) {
      try {
        this.#encoder.add(item);
      } catch (error) {
        this.#queued--;
        this.#tally?.failed(1, 'encoding_failed');
        this.#exporter.recordLoss(1, `it could not be encoded: ${reasonOf(error)}`);
      }
    }
    this.#pending.length = 0;
  }

  /** Exports everything queued when it was called, one batch after another. */
  async forceFlush(): Promise<void> {
    this.#seal();
    const until = this.#sealedCount;
    this.#next();
    if (this.#doneCount < until) await new Promise<void>((resolve) => this.#waiters.push({ until, resolve }));
    await this.#exporter.forceFlush();
  }

  shutdown(): Promise<void> {
    this.#shutdown ??= (async () => {
      try {
        // Everything to the exporter, whose shutdown delivers it within its own time: its
        // forceFlush() first would take the export timeout on top.
        this.#seal();
        const until = this.#sealedCount;
        this.#next();
        if (this.#doneCount < until) await new Promise<void>((resolve) => this.#waiters.push({ until, resolve }));
      } finally {
        await this.#exporter.shutdown();
      }
    })();
    return this.#shutdown;
  }

  #seal(): void {
    if (this.#timer !== undefined) {
      clearTimeout(this.#timer);
      this.#timer = undefined;
    }
    this.#encodePending();
    if (this.#encoder.count === 0) return;
    this.#sealed.push(this.#encoder.seal());
    this.#sealedCount++;
  }

  #next(): void {
    if (this.#exporting) return;
    const batch = this.#sealed.shift();
    if (batch === undefined) return;
    this.#queued -= batch.count;
    this.#tally?.processed(batch.count);
    this.#exporting = true;
    let finished = false;
    const finish = () => {
      if (finished) return;
      finished = true;
      clearTimeout(timer);
      this.#exporting = false;
      this.#doneCount++;
      this.#waiters = this.#waiters.filter((waiter) => {
        if (waiter.until > this.#doneCount) return true;
        waiter.resolve();
        return false;
      });
      this.#next();
    };
    // Past the processor's export timeout the next batch goes; this one may still be
    // delivered, and the exporter reports it if it is not.
    const timer = setTimeout(finish, this.#config.exportTimeoutMillis);
    this.#exporter.export(batch, finish);
  }
}

/**
 * A span processor that batches sampled spans and exports them over OTLP/HTTP protobuf, in
 * place of a `BatchSpanProcessor` and {@link createOtlpSpanExporter}: each span is encoded
 * shortly after it ends rather than kept until its batch is sent, which costs less CPU and
 * garbage collection. `batch` works as `OTEL_BSP_*` does for the SDK's processor; `options` are
 * its exporter's, and `config.protocol` must be `http/protobuf` (a `TypeError` otherwise).
 * `registerOTel()` uses it for OTLP protobuf traces.
 *
 * @example
 * ```ts
 * import { TracerProvider } from '@opentelemetry/sdk-trace';
 * import { createOtlpProtobufSpanProcessor } from '@rolldice/otel';
 *
 * const url = 'http://localhost:4318/v1/traces';
 * const processor = createOtlpProtobufSpanProcessor(
 *   { url, protocol: 'http/protobuf', headers: {}, timeoutMillis: 10_000, compression: 'none' },
 *   { scheduledDelayMillis: 5000, exportTimeoutMillis: 30_000, maxQueueSize: 2048, maxExportBatchSize: 512 },
 * );
 * const provider = new TracerProvider({ spanProcessors: [processor] });
 * ```
 */
export function createOtlpProtobufSpanProcessor(
  config: OtlpExporterConfig,
  batch: BatchConfig,
  options: OtlpExporterOptions = {},
): SpanProcessor {
  const processor = new EncodingBatchProcessor('traces', encodeSpan, config, batch, options);
  return {
    onStart: () => {},
    onEnd: (span) => {
      if ((span.spanContext().traceFlags & TraceFlags.SAMPLED) === 0) return;
      processor.add(span);
    },
    forceFlush: () => processor.forceFlush(),
    shutdown: () => processor.shutdown(),
  };
}

/**
 * A log record processor that batches log records and exports them over OTLP/HTTP protobuf, in
 * place of a `BatchLogRecordProcessor` and {@link createOtlpLogExporter}: each record is encoded
 * shortly after it is emitted. `batch` works as `OTEL_BLRP_*` does; `options` are its
 * exporter's, and `config.protocol` must be `http/protobuf` (a `TypeError` otherwise).
 *
 * @example
 * ```ts
 * import { LoggerProvider } from '@opentelemetry/sdk-logs';
 * import { createOtlpProtobufLogRecordProcessor } from '@rolldice/otel';
 *
 * const url = 'http://localhost:4318/v1/logs';
 * const processor = createOtlpProtobufLogRecordProcessor(
 *   { url, protocol: 'http/protobuf', headers: {}, timeoutMillis: 10_000, compression: 'none' },
 *   { scheduledDelayMillis: 1000, exportTimeoutMillis: 30_000, maxQueueSize: 2048, maxExportBatchSize: 512 },
 * );
 * const provider = new LoggerProvider({ processors: [processor] });
 * ```
 */
export function createOtlpProtobufLogRecordProcessor(
  config: OtlpExporterConfig,
  batch: BatchConfig,
  options: OtlpExporterOptions = {},
): LogRecordProcessor {
  const processor = new EncodingBatchProcessor('logs', encodeLogRecord, config, batch, options);
  return {
    onEmit: (record) => processor.add(record),
    forceFlush: () => processor.forceFlush(),
    shutdown: () => processor.shutdown(),
  };
}
