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

type Env = Readonly<Record<string, string | undefined>>;
type Warn = (message: string) => void;
type Signal = 'traces' | 'metrics' | 'logs';

const DEFAULT_OTLP_ENDPOINT = 'http://localhost:4318';

/**
 * Reads the standard `OTEL_*` variables (the OpenTelemetry specification's "Environment
 * Variable Specification" and OTLP exporter configuration) into a resolved configuration.
 * Never throws: an invalid value gets one `warn` naming the variable, the value and what is
 * used instead. Empty values count as unset, as the specification says.
 *
 * @example
 * ```ts
 * const config = parseConfig(process.env, (message) => console.error(message));
 * ```
 */
export function parseConfig(env: Env, report: Warn): ResolvedConfig {
  // The general OTLP variables are read once per signal; say what is wrong with them once.
  const said = new Set<string>();
  const warn: Warn = (message) => {
    if (said.has(message)) return;
    said.add(message);
    report(message);
  };
  const read = (name: string): string | undefined => {
    const value = env[name]?.trim();
    return value ? value : undefined;
  };
  const number = (name: string, fallback: number, min = 0): number => parseNumber(read(name), name, fallback, min, warn);
  const batch = (prefix: string, scheduledDelayMillis: number): BatchConfig => {
    const maxQueueSize = number(`${prefix}_MAX_QUEUE_SIZE`, 2048, 1);
    let maxExportBatchSize = number(`${prefix}_MAX_EXPORT_BATCH_SIZE`, 512, 1);
    if (maxExportBatchSize > maxQueueSize) {
      warn(`${prefix}_MAX_EXPORT_BATCH_SIZE (${maxExportBatchSize}) is larger than ${prefix}_MAX_QUEUE_SIZE, using ${maxQueueSize}`);
      maxExportBatchSize = maxQueueSize;
    }
    return {
      scheduledDelayMillis: number(`${prefix}_SCHEDULE_DELAY`, scheduledDelayMillis),
      exportTimeoutMillis: number(`${prefix}_EXPORT_TIMEOUT`, 30_000),
      maxQueueSize,
      maxExportBatchSize,
    };
  };
  const exporters = (signal: Signal): ExporterName[] => {
    const name = `OTEL_${signal.toUpperCase()}_EXPORTER`;
    const value = read(name);
    // Deliberately not the spec's `otlp` default: with nothing configured the service prints
    // its telemetry like the seed does, and configuring an OTLP endpoint switches to OTLP.
    if (value === undefined) {
      const endpoint = read('OTEL_EXPORTER_OTLP_ENDPOINT') ?? read(`OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_ENDPOINT`);
      return endpoint === undefined ? ['console'] : ['otlp'];
    }
    return parseExporters(value, name, warn);
  };
  const valueLengthLimit = read('OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT');

  return {
    disabled: parseBoolean(read('OTEL_SDK_DISABLED'), 'OTEL_SDK_DISABLED', warn),
    serviceName: read('OTEL_SERVICE_NAME'),
    resourceAttributes: parseResourceAttributes(read('OTEL_RESOURCE_ATTRIBUTES'), warn),
    propagators: parsePropagators(read('OTEL_PROPAGATORS'), warn),
    logLevel: parseChoice(read('OTEL_LOG_LEVEL'), 'OTEL_LOG_LEVEL', LOG_LEVELS, 'info', warn),
    limits: {
      attributeValueLengthLimit: valueLengthLimit === undefined
        ? undefined
        : parseNumber(valueLengthLimit, 'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT', Number.POSITIVE_INFINITY, 0, warn),
      attributeCountLimit: number('OTEL_ATTRIBUTE_COUNT_LIMIT', 128),
    },
    traces: {
      exporters: exporters('traces'),
      otlp: parseOtlp('traces', read, warn),
      sampler: parseSampler(read('OTEL_TRACES_SAMPLER'), read('OTEL_TRACES_SAMPLER_ARG'), warn),
      batch: batch('OTEL_BSP', 5_000),
    },
    metrics: {
      exporters: exporters('metrics'),
      otlp: parseOtlp('metrics', read, warn),
      exportIntervalMillis: number('OTEL_METRIC_EXPORT_INTERVAL', 60_000, 1),
      exportTimeoutMillis: number('OTEL_METRIC_EXPORT_TIMEOUT', 30_000, 1),
      temporalityPreference: parseChoice(
        read('OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE'),
        'OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE',
        ['cumulative', 'delta', 'lowmemory'] as const,
        'cumulative',
        warn,
      ),
    },
    logs: {
      exporters: exporters('logs'),
      otlp: parseOtlp('logs', read, warn),
      batch: batch('OTEL_BLRP', 1_000),
    },
  };
}

const LOG_LEVELS = ['none', 'error', 'warn', 'info', 'debug', 'verbose', 'all'] as const;
const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;

function parseBoolean(value: string | undefined, name: string, warn: Warn): boolean {
  if (value === undefined) return false;
  const lower = value.toLowerCase();
  if (lower === 'true') return true;
  if (lower !== 'false') warn(`Cannot parse ${name}: current value is "${value}", using false`);
  return false;
}

function parseNumber(value: string | undefined, name: string, fallback: number, min: number, warn: Warn): number {
  if (value === undefined) return fallback;
  const parsed = Number(value);
  if (Number.isInteger(parsed) && parsed >= min) return parsed;
  warn(`Cannot parse ${name}: current value is "${value}", using ${fallback}`);
  return fallback;
}

function parseChoice<T extends string>(
  value: string | undefined,
  name: string,
  choices: readonly T[],
  fallback: T,
  warn: Warn,
): T {
  if (value === undefined) return fallback;
  const lower = value.toLowerCase() as T;
  if (choices.includes(lower)) return lower;
  warn(`Cannot parse ${name}: current value is "${value}", using ${fallback}`);
  return fallback;
}

/** Splits a comma-separated list, trimmed and lower-cased, without empty items or repeats. */
function parseList(value: string): string[] {
  return [...new Set(value.split(',').map((item) => item.trim().toLowerCase()).filter(Boolean))];
}

function parseExporters(value: string, name: string, warn: Warn): ExporterName[] {
  const names = parseList(value);
  if (names.length === 1 && names[0] === 'none') return [];
  const exporters: ExporterName[] = [];
  for (const item of names) {
    if (item === 'otlp' || item === 'console') exporters.push(item);
    else if (item === 'logging') {
      warn(`${name}: "logging" is a deprecated name of "console", using console`);
      exporters.push('console');
    } else if (item === 'none') warn(`${name}: "none" is ignored next to other exporters`);
    else warn(`${name}: exporter "${item}" is not supported, ignoring it`);
  }
  return [...new Set(exporters)];
}

function parsePropagators(value: string | undefined, warn: Warn): PropagatorName[] {
  if (value === undefined) return ['tracecontext', 'baggage'];
  const names = parseList(value);
  if (names.length === 1 && names[0] === 'none') return [];
  const propagators: PropagatorName[] = [];
  for (const name of names) {
    if (name === 'tracecontext' || name === 'baggage') propagators.push(name);
    else if (name === 'none') warn('OTEL_PROPAGATORS: "none" is ignored next to other propagators');
    else warn(`OTEL_PROPAGATORS: propagator "${name}" is not supported, ignoring it`);
  }
  return propagators;
}

function parseSampler(name: string | undefined, arg: string | undefined, warn: Warn): SamplerConfig {
  const sampler = parseChoice(name, 'OTEL_TRACES_SAMPLER', SAMPLERS, 'parentbased_always_on', warn);
  let ratio = 1;
  if (arg !== undefined && sampler.endsWith('traceidratio')) {
    const parsed = Number(arg);
    if (Number.isFinite(parsed) && parsed >= 0 && parsed <= 1) ratio = parsed;
    else warn(`Cannot parse OTEL_TRACES_SAMPLER_ARG: current value is "${arg}", using 1`);
  }
  return { name: sampler, ratio };
}

/**
 * Parses a `key=value,key=value` list whose values are percent-encoded, the format of
 * `OTEL_RESOURCE_ATTRIBUTES` and `OTEL_EXPORTER_OTLP_HEADERS`. Returns undefined when any
 * member is malformed. (`@opentelemetry/core`'s parseKeyPairsIntoRecord skips bad members
 * silently, where the specification asks to reject the whole value.)
 */
export function parseKeyValueList(value: string): Record<string, string> | undefined {
  const record: Record<string, string> = {};
  for (const member of value.split(',')) {
    if (member.trim() === '') continue;
    const equals = member.indexOf('=');
    if (equals <= 0) return undefined;
    const key = member.slice(0, equals).trim();
    if (key === '') return undefined;
    try {
      record[key] = decodeURIComponent(member.slice(equals + 1).trim());
    } catch {
      return undefined;
    }
  }
  return record;
}

function parseResourceAttributes(value: string | undefined, warn: Warn): Record<string, string> {
  if (value === undefined) return {};
  const attributes = parseKeyValueList(value);
  if (attributes) return attributes;
  // The specification: on any decoding error the whole value is discarded.
  warn(`Cannot parse OTEL_RESOURCE_ATTRIBUTES: current value is "${value}", ignoring all of it`);
  return {};
}

function parseOtlp(signal: Signal, read: (name: string) => string | undefined, warn: Warn): OtlpExporterConfig {
  const SIGNAL = signal.toUpperCase();
  // The signal's own variable wins over the general one, which wins over the default.
  const pick = (option: string) => {
    const specific = `OTEL_EXPORTER_OTLP_${SIGNAL}_${option}`;
    const general = `OTEL_EXPORTER_OTLP_${option}`;
    const value = read(specific);
    if (value !== undefined) return { name: specific, value };
    return { name: general, value: read(general) };
  };

  const endpoint = pick('ENDPOINT');
  const defaultUrl = `${DEFAULT_OTLP_ENDPOINT}/v1/${signal}`;
  let url = defaultUrl;
  if (endpoint.value !== undefined) {
    // The general endpoint is a base URL that gets the signal's path; a signal's own is used as given.
    const candidate = endpoint.name.includes(`_${SIGNAL}_`)
      ? endpoint.value
      : `${endpoint.value.replace(/\/+$/, '')}/v1/${signal}`;
    if (isHttpUrl(candidate)) url = candidate;
    else warn(`Cannot parse ${endpoint.name}: current value is "${endpoint.value}", using ${defaultUrl}`);
  }

  const protocolOption = pick('PROTOCOL');
  let protocol: OtlpProtocol = 'http/protobuf';
  if (protocolOption.value !== undefined) {
    const lower = protocolOption.value.toLowerCase();
    if (lower === 'http/protobuf' || lower === 'http/json') protocol = lower;
    else if (lower === 'grpc') warn(`${protocolOption.name}: grpc is not supported, using http/protobuf`);
    else warn(`Cannot parse ${protocolOption.name}: current value is "${protocolOption.value}", using http/protobuf`);
  }

  const headersOption = pick('HEADERS');
  let headers: Record<string, string> = {};
  if (headersOption.value !== undefined) {
    const parsed = parseKeyValueList(headersOption.value);
    if (parsed) headers = parsed;
    // The value is not shown: headers often hold credentials.
    else warn(`Cannot parse ${headersOption.name}: expected key=value pairs with percent-encoded values, sending no extra headers`);
  }

  const timeoutOption = pick('TIMEOUT');
  const compressionOption = pick('COMPRESSION');
  return {
    url,
    protocol,
    headers,
    timeoutMillis: parseNumber(timeoutOption.value, timeoutOption.name, 10_000, 1, warn),
    compression: parseChoice(compressionOption.value, compressionOption.name, ['gzip', 'none'] as const, 'none', warn),
  };
}

function isHttpUrl(value: string): boolean {
  try {
    const { protocol } = new URL(value);
    return protocol === 'http:' || protocol === 'https:';
  } catch {
    return false;
  }
}
