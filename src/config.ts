/**
 * The resolved configuration of the service's telemetry: a plain object, built by the
 * adapters from the environment with `parseConfig(env)`, or by hand by an embedder.
 */

export type OtlpProtocol = 'http/protobuf' | 'http/json';
export type ExporterName = 'otlp' | 'console';
export type PropagatorName = 'tracecontext' | 'baggage';
export type SamplerName =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio';
export type LogLevel = 'none' | 'error' | 'warn' | 'info' | 'debug' | 'verbose' | 'all';
export type TemporalityPreference = 'cumulative' | 'delta' | 'lowmemory';

/** Where and how one signal is sent over OTLP/HTTP. */
export interface OtlpExporterConfig {
  /** The full URL of the signal, e.g. `http://localhost:4318/v1/traces`. */
  url: string;
  protocol: OtlpProtocol;
  headers: Record<string, string>;
  timeoutMillis: number;
  compression: 'gzip' | 'none';
}

/** Batch processor settings (`OTEL_BSP_*`, `OTEL_BLRP_*`). */
export interface BatchConfig {
  scheduledDelayMillis: number;
  exportTimeoutMillis: number;
  maxQueueSize: number;
  maxExportBatchSize: number;
}

export interface SamplerConfig {
  name: SamplerName;
  /** For the ratio samplers, in [0, 1]. */
  ratio: number;
}

export interface ResolvedConfig {
  /** `OTEL_SDK_DISABLED=true`: no-op providers, nothing exported. */
  disabled: boolean;
  /** `OTEL_SERVICE_NAME`, which wins over `service.name` in the resource attributes. */
  serviceName?: string;
  /** `OTEL_RESOURCE_ATTRIBUTES`, percent-decoded. */
  resourceAttributes: Record<string, string>;
  /** `OTEL_PROPAGATORS`, in order; empty means none. */
  propagators: PropagatorName[];
  logLevel: LogLevel;
  limits: {
    /** `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`; undefined means no limit. */
    attributeValueLengthLimit?: number;
    /** `OTEL_ATTRIBUTE_COUNT_LIMIT`. */
    attributeCountLimit: number;
  };
  traces: {
    /** Empty means none. */
    exporters: ExporterName[];
    otlp: OtlpExporterConfig;
    sampler: SamplerConfig;
    batch: BatchConfig;
  };
  metrics: {
    exporters: ExporterName[];
    otlp: OtlpExporterConfig;
    exportIntervalMillis: number;
    exportTimeoutMillis: number;
    temporalityPreference: TemporalityPreference;
  };
  logs: {
    exporters: ExporterName[];
    otlp: OtlpExporterConfig;
    batch: BatchConfig;
  };
}
