// The resolved configuration of the telemetry: a plain object, read from the environment with
// `parseConfig(env, warn)`, or written by hand by an embedder.
import type { Env } from './runtime.ts';

/** How OTLP/HTTP encodes requests (`OTEL_EXPORTER_OTLP_PROTOCOL`): binary protobuf or JSON. */
export type OtlpProtocol = 'http/protobuf' | 'http/json';
/**
 * An exporter named in `OTEL_TRACES_EXPORTER`, `OTEL_METRICS_EXPORTER` or `OTEL_LOGS_EXPORTER`:
 * OTLP/HTTP to a collector, or each batch printed as indented OTLP/JSON.
 */
export type ExporterName = 'otlp' | 'console';
/** A propagator named in `OTEL_PROPAGATORS`: W3C Trace Context or W3C Baggage. */
export type PropagatorName = 'tracecontext' | 'baggage';
/** A sampler named in `OTEL_TRACES_SAMPLER`; the ratio ones read `OTEL_TRACES_SAMPLER_ARG`. */
export type SamplerName =
  | 'always_on'
  | 'always_off'
  | 'traceidratio'
  | 'parentbased_always_on'
  | 'parentbased_always_off'
  | 'parentbased_traceidratio';
/** A level of `OTEL_LOG_LEVEL`: how much of the SDK's own diagnostics the diag logger gets. */
export type LogLevel = 'none' | 'error' | 'warn' | 'info' | 'debug' | 'verbose' | 'all';
/**
 * `OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE`: `delta` makes counters and histograms
 * delta, `lowmemory` only the synchronous ones; up-down counters and gauges stay cumulative.
 */
export type TemporalityPreference = 'cumulative' | 'delta' | 'lowmemory';

/** Where and how one signal is sent over OTLP/HTTP. */
export interface OtlpExporterConfig {
  /** The full URL of the signal, e.g. `http://localhost:4318/v1/traces`. */
  url: string;
  /** The encoding of the requests: `http/protobuf` unless `OTEL_EXPORTER_OTLP_PROTOCOL` says otherwise. */
  protocol: OtlpProtocol;
  /** Headers sent with every request, e.g. an API key (`OTEL_EXPORTER_OTLP_HEADERS`). */
  headers: Record<string, string>;
  /** How long one request may take before it is abandoned and retried; 10000 when unset. */
  timeoutMillis: number;
  /** Whether request bodies are gzipped: `none` when unset. */
  compression: 'gzip' | 'none';
}

/** Batch processor settings (`OTEL_BSP_*`, `OTEL_BLRP_*`). */
export interface BatchConfig {
  /** The longest an item waits before its batch is exported: 5000 for spans, 1000 for log records when unset. */
  scheduledDelayMillis: number;
  /** How long one batch's export may take before the next one goes; 30000 when unset. */
  exportTimeoutMillis: number;
  /** Items held for export at most, 2048 when unset; more are dropped and counted. */
  maxQueueSize: number;
  /** Items per export at most, no more than `maxQueueSize`; 512 when unset. */
  maxExportBatchSize: number;
}

/** The trace sampler (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`). */
export interface SamplerConfig {
  /** Which sampler: `parentbased_always_on` when unset. */
  name: SamplerName;
  /** For the ratio samplers, in [0, 1]. */
  ratio: number;
}

/**
 * Every setting of the telemetry, with nothing left to default: what {@link parseConfig} reads
 * from the `OTEL_*` variables, and what `setupTelemetry()` builds the SDK from.
 */
export interface ResolvedConfig {
  /** `OTEL_SDK_DISABLED=true`: no-op providers, nothing exported. */
  disabled: boolean;
  /** `OTEL_SERVICE_NAME`, which wins over `service.name` in the resource attributes. */
  serviceName?: string;
  /** `OTEL_RESOURCE_ATTRIBUTES`, percent-decoded. */
  resourceAttributes: Record<string, string>;
  /** `OTEL_PROPAGATORS`, in order; empty means none. */
  propagators: PropagatorName[];
  /** `OTEL_LOG_LEVEL`: the level of the SDK's diag logger, when one is installed. */
  logLevel: LogLevel;
  /** The attribute limits of every span and log record. */
  limits: {
    /** `OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT`; undefined means no limit. */
    attributeValueLengthLimit?: number;
    /** `OTEL_ATTRIBUTE_COUNT_LIMIT`. */
    attributeCountLimit: number;
  };
  /** The trace signal: its exporters, their OTLP settings, the sampler, the batch span processor. */
  traces: {
    /** Empty means none. */
    exporters: ExporterName[];
    otlp: OtlpExporterConfig;
    sampler: SamplerConfig;
    batch: BatchConfig;
  };
  /** The metric signal: its exporters, their OTLP settings and the periodic reader's timing. */
  metrics: {
    exporters: ExporterName[];
    otlp: OtlpExporterConfig;
    exportIntervalMillis: number;
    exportTimeoutMillis: number;
    temporalityPreference: TemporalityPreference;
  };
  /** The log signal: its exporters, their OTLP settings and the batch log record processor. */
  logs: {
    exporters: ExporterName[];
    otlp: OtlpExporterConfig;
    batch: BatchConfig;
  };
  /** How OTLP exports ride out a collector's outage and a shutdown: this project's variables, not the spec's. */
  delivery: {
    /**
     * `ROLLDICE_OTLP_BUFFER_BYTES`: the most encoded telemetry (bytes as sent) the OTLP
     * exporters of every signal together hold for a collector that does not take it; past it,
     * the oldest is dropped and counted; 33554432 (32 MiB) when unset.
     */
    bufferBytes: number;
    /**
     * `ROLLDICE_SHUTDOWN_FLUSH_TIMEOUT`: the longest `shutdown()` spends delivering what is
     * held, in milliseconds, before counting the rest as lost; 0 means no limit, 5000 when unset.
     */
    shutdownFlushMillis: number;
  };
}

type Warn = (message: string) => void;
type Signal = 'traces' | 'metrics' | 'logs';

/** What a parser makes of a variable's text: a value, a problem, or both (a partly usable value). */
type Parsed<T> = { value: T; problem?: string } | { value?: undefined; problem: string };
type Parser<T> = (text: string) => Parsed<T>;

const DEFAULT_OTLP_ENDPOINT = 'http://localhost:4318';
/** Sized to hold a minute's outage of a busy service with room to spare (docs/reliability.md). */
const DEFAULT_BUFFER_BYTES = 32 * 1024 * 1024;
const DEFAULT_SHUTDOWN_FLUSH_MILLIS = 5_000;
/**
 * The largest integer the specification asks implementations to accept (2³¹ − 1). It is also
 * the longest delay `setTimeout` takes, which makes it the "indefinite" of a zero timeout.
 */
const MAX_INTEGER = 2_147_483_647;
const LOG_LEVELS = ['none', 'error', 'warn', 'info', 'debug', 'verbose', 'all'] as const;
const SAMPLERS = [
  'always_on',
  'always_off',
  'traceidratio',
  'parentbased_always_on',
  'parentbased_always_off',
  'parentbased_traceidratio',
] as const;
const DEFAULT_PROPAGATORS: PropagatorName[] = ['tracecontext', 'baggage'];
// The specification's deprecated alias, which it asks new implementations not to accept.
const EXPORTER_HINTS: Readonly<Record<string, string>> = {
  logging: 'logging is a deprecated name of console and not supported',
};

/**
 * Reads the standard `OTEL_*` variables (the specification's environment variables and those
 * of the OTLP exporter) and this package's `ROLLDICE_OTLP_BUFFER_BYTES` and
 * `ROLLDICE_SHUTDOWN_FLUSH_TIMEOUT` into a {@link ResolvedConfig}, which `setupTelemetry()`
 * builds the SDK from. Pure: reads only `env`. Never throws: an invalid value gets one `warn`
 * naming the variable, the value and what is used instead, and is then ignored as if unset, as
 * the specification asks, so a signal's own OTLP variable that is invalid gives way to the
 * general one. Values are trimmed, and empty ones count as unset.
 *
 * One default differs from the specification's: a signal whose `OTEL_{TRACES,METRICS,LOGS}_EXPORTER`
 * is unset prints to the console unless an OTLP endpoint is configured for it, so that telemetry
 * shows without a collector. `registerOTel()` keeps the specification's `otlp`.
 *
 * @example
 * ```ts
 * import { parseConfig } from '@rolldice/otel';
 *
 * const config = parseConfig({ OTEL_SERVICE_NAME: 'dice', OTEL_TRACES_SAMPLER: 'always_off' }, console.warn);
 * config.traces.sampler.name; // 'always_off'
 * ```
 */
export function parseConfig(env: Env, warn: (message: string) => void): ResolvedConfig {
  // The value of a variable, or undefined when it is unset or invalid (after one warning).
  const variable = <T>(
    name: string,
    parse: Parser<T>,
    fallback: T,
    show: (value: T) => string = String,
    secret = false,
  ) => {
    const raw = env[name];
    const text = raw?.trim();
    if (raw === undefined || !text) return undefined;
    const result = parse(text);
    if (result.problem !== undefined) {
      reportInvalid(warn, name, secret ? undefined : raw, show(result.value ?? fallback), result.problem);
    }
    return result.value;
  };
  const setting = <T>(name: string, parse: Parser<T>, fallback: T, show?: (value: T) => string): T =>
    variable(name, parse, fallback, show) ?? fallback;

  const batch = (prefix: 'OTEL_BSP' | 'OTEL_BLRP', scheduledDelayMillis: number): BatchConfig => {
    const maxQueueSize = setting(`${prefix}_MAX_QUEUE_SIZE`, integer(1), 2048);
    // The spec: the batch size must not exceed the queue size. A default that does is cut silently.
    const withinQueue: Parser<number> = (text) => {
      const parsed = integer(1)(text);
      return parsed.value !== undefined && parsed.value > maxQueueSize
        ? { value: maxQueueSize, problem: `it must not exceed ${prefix}_MAX_QUEUE_SIZE` }
        : parsed;
    };
    return {
      scheduledDelayMillis: setting(`${prefix}_SCHEDULE_DELAY`, integer(0), scheduledDelayMillis),
      exportTimeoutMillis: setting(`${prefix}_EXPORT_TIMEOUT`, timeout, 30_000),
      maxQueueSize,
      maxExportBatchSize: setting(`${prefix}_MAX_EXPORT_BATCH_SIZE`, withinQueue, Math.min(512, maxQueueSize)),
    };
  };

  // OTLP: each option from the signal's own variable, else the general one (read, and warned
  // about, once for all signals), else the default.
  const generalEndpoint = variable('OTEL_EXPORTER_OTLP_ENDPOINT', httpUrl, DEFAULT_OTLP_ENDPOINT);
  const generalHeaders = variable('OTEL_EXPORTER_OTLP_HEADERS', httpHeaders, {}, () => 'no headers', true);
  const general = {
    protocol: setting<OtlpProtocol>('OTEL_EXPORTER_OTLP_PROTOCOL', otlpProtocol, 'http/protobuf'),
    headers: generalHeaders ?? {},
    timeoutMillis: setting('OTEL_EXPORTER_OTLP_TIMEOUT', timeout, 10_000),
    compression: setting('OTEL_EXPORTER_OTLP_COMPRESSION', choice(['gzip', 'none'] as const), 'none'),
  };
  const otlp = (signal: Signal): { config: OtlpExporterConfig; endpointConfigured: boolean } => {
    const name = (option: string) => `OTEL_EXPORTER_OTLP_${signal.toUpperCase()}_${option}`;
    const generalUrl = joinSignalPath(generalEndpoint ?? DEFAULT_OTLP_ENDPOINT, signal);
    const ownUrl = variable(name('ENDPOINT'), signalUrl, generalUrl);
    // Headers are one option: a signal's own list replaces the general one rather than merging.
    const headersFallback = () => (generalHeaders ? 'OTEL_EXPORTER_OTLP_HEADERS' : 'no headers');
    return {
      endpointConfigured: ownUrl !== undefined || generalEndpoint !== undefined,
      config: {
        url: ownUrl ?? generalUrl,
        protocol: setting(name('PROTOCOL'), otlpProtocol, general.protocol),
        headers: variable(name('HEADERS'), httpHeaders, general.headers, headersFallback, true) ?? general.headers,
        timeoutMillis: setting(name('TIMEOUT'), timeout, general.timeoutMillis),
        compression: setting(name('COMPRESSION'), choice(['gzip', 'none'] as const), general.compression),
      },
    };
  };

  // Project rule, deliberately not the spec's default of `otlp`: a signal whose exporter variable
  // is unset (or invalid) prints to the console, unless an OTLP endpoint is configured for it
  // (OTEL_EXPORTER_OTLP_ENDPOINT or its own OTEL_EXPORTER_OTLP_<SIGNAL>_ENDPOINT): then `otlp`.
  // So the service shows its telemetry out of the box, and pointing it at a collector is enough.
  const exporters = (signal: Signal, endpointConfigured: boolean): ExporterName[] =>
    setting(
      `OTEL_${signal.toUpperCase()}_EXPORTER`,
      nameList(['otlp', 'console'] as const, 'exporters', EXPORTER_HINTS),
      endpointConfigured ? ['otlp'] : ['console'],
      showList,
    );

  const sampler = setting('OTEL_TRACES_SAMPLER', choice(SAMPLERS), 'parentbased_always_on');
  const [traces, metrics, logs] = [otlp('traces'), otlp('metrics'), otlp('logs')];
  return {
    disabled: setting('OTEL_SDK_DISABLED', boolean, false),
    serviceName: env.OTEL_SERVICE_NAME?.trim() || undefined,
    resourceAttributes: setting('OTEL_RESOURCE_ATTRIBUTES', decodeKeyValueList, {}, () => 'no attributes'),
    propagators: setting(
      'OTEL_PROPAGATORS',
      nameList(['tracecontext', 'baggage'] as const, 'propagators'),
      DEFAULT_PROPAGATORS,
      showList,
    ),
    logLevel: setting('OTEL_LOG_LEVEL', choice(LOG_LEVELS), 'info'),
    limits: {
      attributeValueLengthLimit: setting<number | undefined>(
        'OTEL_ATTRIBUTE_VALUE_LENGTH_LIMIT',
        integer(0),
        undefined,
        (limit) => (limit === undefined ? 'no limit' : String(limit)),
      ),
      attributeCountLimit: setting('OTEL_ATTRIBUTE_COUNT_LIMIT', integer(0), 128),
    },
    traces: {
      exporters: exporters('traces', traces.endpointConfigured),
      otlp: traces.config,
      sampler: {
        name: sampler,
        // The argument is read for the ratio samplers only, and so only when OTEL_TRACES_SAMPLER is set.
        ratio: sampler.endsWith('traceidratio') ? setting('OTEL_TRACES_SAMPLER_ARG', probability, 1) : 1,
      },
      batch: batch('OTEL_BSP', 5_000),
    },
    metrics: {
      exporters: exporters('metrics', metrics.endpointConfigured),
      otlp: metrics.config,
      // A Duration may be 0, but a periodic reader cannot export every 0 ms: the interval must be positive.
      exportIntervalMillis: setting('OTEL_METRIC_EXPORT_INTERVAL', integer(1), 60_000),
      exportTimeoutMillis: setting('OTEL_METRIC_EXPORT_TIMEOUT', timeout, 30_000),
      temporalityPreference: setting(
        'OTEL_EXPORTER_OTLP_METRICS_TEMPORALITY_PREFERENCE',
        choice(['cumulative', 'delta', 'lowmemory'] as const),
        'cumulative',
      ),
    },
    logs: {
      exporters: exporters('logs', logs.endpointConfigured),
      otlp: logs.config,
      batch: batch('OTEL_BLRP', 1_000),
    },
    delivery: {
      bufferBytes: setting('ROLLDICE_OTLP_BUFFER_BYTES', integer(0), DEFAULT_BUFFER_BYTES),
      shutdownFlushMillis: setting('ROLLDICE_SHUTDOWN_FLUSH_TIMEOUT', timeout, DEFAULT_SHUTDOWN_FLUSH_MILLIS),
    },
  };
}

/**
 * Parses a `key=value,key=value` list the way the specification reads `OTEL_RESOURCE_ATTRIBUTES`
 * and `OTEL_EXPORTER_OTLP_HEADERS`: W3C Baggage without properties, keys and values trimmed and
 * percent-decoded (as UTF-8), a repeated key keeping its last value. Any error discards the whole
 * value, with one warning naming `variable`, and gives `{}`.
 *
 * We do not use `@opentelemetry/core`'s `parseKeyPairsIntoRecord`: it skips bad members silently
 * where the spec discards the whole value, drops empty values, and cuts values at `;`.
 *
 * @example
 * ```ts
 * parseKeyValueList('service.version=1.2,team=dice%20core', 'OTEL_RESOURCE_ATTRIBUTES', console.warn);
 * // { 'service.version': '1.2', team: 'dice core' }
 * ```
 */
export function parseKeyValueList(text: string, variable: string, warn: Warn): Record<string, string> {
  const parsed = decodeKeyValueList(text);
  if (parsed.value !== undefined) return parsed.value;
  reportInvalid(warn, variable, text, '{}', parsed.problem);
  return {};
}

function reportInvalid(warn: Warn, name: string, raw: string | undefined, fallback: string, problem: string): void {
  const value = raw === undefined ? 'not shown as it may hold credentials' : JSON.stringify(raw);
  warn(`Cannot parse ${name}: current value is ${value}, using ${fallback}${problem ? ` (${problem})` : ''}`);
}

function decodeKeyValueList(text: string): Parsed<Record<string, string>> {
  const entries = new Map<string, string>();
  const members = text.split(',');
  for (const [index, member] of members.entries()) {
    if (member.trim() === '') continue; // an empty list element, e.g. from a trailing comma
    const at = members.length > 1 ? `member ${index + 1}` : 'the member';
    const equals = member.indexOf('=');
    if (equals < 0) return { problem: `${at} is not key=value` };
    const key = percentDecode(member.slice(0, equals).trim());
    const value = percentDecode(member.slice(equals + 1).trim());
    if (key === undefined || value === undefined) return { problem: `${at} has an invalid percent-encoding` };
    if (key === '') return { problem: `${at} has no key` };
    entries.set(key, value);
  }
  // fromEntries, not assignment: a key such as `__proto__` stays an ordinary key.
  return { value: Object.fromEntries(entries) };
}

function percentDecode(text: string): string | undefined {
  try {
    return decodeURIComponent(text);
  } catch {
    return undefined;
  }
}

// HTTP field names are tokens; values are visible ASCII, spaces and tabs. Anything else would
// make `Headers` throw at export time, or send a non-ASCII character as a Latin-1 byte.
const HTTP_TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const HTTP_FIELD_VALUE = /^[\t\x20-\x7e]*$/;

/** A header list; names are lower-cased, as header names are case-insensitive. */
function httpHeaders(text: string): Parsed<Record<string, string>> {
  const parsed = decodeKeyValueList(text);
  if (parsed.value === undefined) return parsed;
  const headers = new Map<string, string>();
  for (const [name, value] of Object.entries(parsed.value)) {
    if (!HTTP_TOKEN.test(name) || !HTTP_FIELD_VALUE.test(value)) {
      return { problem: 'a name or value is not valid in HTTP' };
    }
    headers.set(name.toLowerCase(), value);
  }
  return { value: Object.fromEntries(headers) };
}

function boolean(text: string): Parsed<boolean> {
  const lower = text.toLowerCase();
  if (lower === 'true' || lower === 'false') return { value: lower === 'true' };
  return { problem: 'expected true or false' };
}

/** A non-negative decimal integer from `min` to 2³¹ − 1; no signs, fractions or exponents. */
function integer(min: 0 | 1): Parser<number> {
  return (text) => {
    const value = /^[0-9]+$/.test(text) ? Number(text) : Number.NaN;
    if (value >= min && value <= MAX_INTEGER) return { value };
    return { problem: `expected an integer from ${min} to ${MAX_INTEGER}` };
  };
}

/** A Timeout: milliseconds, where 0 means indefinite, which the spec lets us make "very long". */
function timeout(text: string): Parsed<number> {
  const parsed = integer(0)(text);
  return parsed.value === 0 ? { value: MAX_INTEGER } : parsed;
}

/** A sampling probability: a decimal number from 0 to 1. */
function probability(text: string): Parsed<number> {
  const value = /^(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?$/.test(text) ? Number(text) : Number.NaN;
  return value >= 0 && value <= 1 ? { value } : { problem: 'expected a number from 0 to 1' };
}

/** An enum value, case-insensitive. */
function choice<T extends string>(values: readonly T[]): Parser<T> {
  return (text) => {
    const lower = text.toLowerCase();
    return (values as readonly string[]).includes(lower)
      ? { value: lower as T }
      : { problem: `expected ${values.join(', ')}` };
  };
}

function otlpProtocol(text: string): Parsed<OtlpProtocol> {
  if (text.toLowerCase() === 'grpc') return { problem: 'grpc is not supported, only OTLP/HTTP' };
  return choice(['http/protobuf', 'http/json'] as const)(text);
}

/**
 * A comma-separated list of enum values, case-insensitive and deduplicated: `none` alone means
 * none; unsupported names, and `none` next to others, are skipped with a warning. When nothing
 * usable is left, the whole setting is ignored, as the spec asks of an unrecognised enum value.
 */
function nameList<T extends string>(
  supported: readonly T[],
  kind: string,
  hints: Readonly<Record<string, string>> = {},
): Parser<T[]> {
  const isSupported = (name: string): name is T => (supported as readonly string[]).includes(name);
  return (text) => {
    const names = [...new Set(text.split(',').map((name) => name.trim().toLowerCase()).filter(Boolean))];
    const chosen = names.filter(isSupported);
    const problems = names
      .filter((name) => name !== 'none' && !isSupported(name))
      .map((name) => hints[name] ?? `${name} is not supported`);
    const none = names.includes('none');
    if (none && chosen.length > 0) problems.push(`none is ignored next to other ${kind}`);
    const problem = problems.length > 0 ? problems.join('; ') : undefined;
    if (chosen.length === 0 && !none) return { problem: problem ?? `no ${kind} named` };
    return problem === undefined ? { value: chosen } : { value: chosen, problem };
  };
}

function showList(names: readonly string[]): string {
  return names.length === 0 ? 'none' : names.join(',');
}

/** An absolute http(s) URL with a host, as the OTLP exporter spec requires of an endpoint. */
function httpUrl(text: string): Parsed<string> {
  const problem = 'expected an absolute http or https URL';
  // new URL() alone is too lenient: it reads `http:host` as `http://host/` and drops tabs.
  if (!/^https?:\/\/[^/?#]/i.test(text) || /\s/.test(text)) return { problem };
  try {
    return new URL(text).hostname === '' ? { problem } : { value: text };
  } catch {
    return { problem };
  }
}

/** A signal's own endpoint is used as given, except that a URL without a path gets the root path. */
function signalUrl(text: string): Parsed<string> {
  const parsed = httpUrl(text);
  return parsed.value === undefined
    ? parsed
    : { value: parsed.value.replace(/^([a-z]+:\/\/[^/?#]*)(?=[?#]|$)/i, '$1/') };
}

/** The general endpoint is a base URL: the signal's path goes after it, with exactly one slash. */
function joinSignalPath(base: string, signal: Signal): string {
  const end = base.search(/[?#]/);
  const [path, rest] = end < 0 ? [base, ''] : [base.slice(0, end), base.slice(end)];
  return `${path.replace(/\/+$/, '')}/v1/${signal}${rest}`;
}
