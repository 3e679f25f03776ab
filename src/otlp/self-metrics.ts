/**
 * The exporters' and batch processors' own health, as the semantic conventions for SDK metrics
 * name it (https://opentelemetry.io/docs/specs/semconv/otel/sdk-metrics/): items exported or
 * failed by `error.type`, items in flight, queue size and capacity. The components keep plain
 * counts; the instruments are asynchronous and read them when the service's metrics are
 * collected, so that a request pays nothing for them.
 */
import { type Attributes, type MeterProvider, type ObservableResult, ValueType } from '@opentelemetry/api';
import { ATTR_ERROR_TYPE, ATTR_SERVER_ADDRESS, ATTR_SERVER_PORT } from '@opentelemetry/semantic-conventions';
import { VERSION } from '../version.ts';

// Development-status names, copied rather than imported from the package's `incubating` entry
// point, as its README advises (and that entry point is too large to load at start-up).
const ATTR_OTEL_COMPONENT_NAME = 'otel.component.name';
const ATTR_OTEL_COMPONENT_TYPE = 'otel.component.type';

/** The instrumentation scope of these metrics. */
export const SELF_METRICS_SCOPE = 'rolldice/otlp';

/** One of the three signals, as OTLP names them in its paths: `/v1/traces`, `/v1/metrics`, `/v1/logs`. */
export type TelemetrySignal = 'traces' | 'metrics' | 'logs';

interface SignalNames {
  /** The item's name in metric names: `otel.sdk.exporter.<item>.exported`. */
  item: string;
  unit: string;
  /** Plural, for descriptions. */
  plural: string;
  processorKind: string;
}

const NAMES: Record<TelemetrySignal, SignalNames> = {
  traces: { item: 'span', unit: '{span}', plural: 'spans', processorKind: 'span processor' },
  logs: { item: 'log', unit: '{log_record}', plural: 'log records', processorKind: 'Log Record processor' },
  metrics: { item: 'metric_data_point', unit: '{data_point}', plural: 'metric data points', processorKind: '' },
};

/** What one exporter counts of itself. */
export interface ExporterTally {
  /** Items delivered (partial successes: those not rejected). */
  exported(count: number): void;
  /** Items given up, by `error.type`. */
  failed(count: number, errorType: string): void;
}

/** What one batch processor counts of itself. */
export interface ProcessorTally {
  /** Items handed to the exporter. */
  processed(count: number): void;
  /** Items dropped before the exporter, by `error.type` (`queue_full`, `already_shutdown`). */
  failed(count: number, errorType: string): void;
}

interface Component {
  signal: TelemetrySignal;
  attributes: Attributes;
  ok: number;
  failures: Map<string, number>;
}

interface ExporterComponent extends Component {
  held: () => number;
}

interface ProcessorComponent extends Component {
  queued: () => number;
  capacity: number;
}

/**
 * Where the OTLP exporters and processors of one SDK report what they deliver, drop and hold,
 * given as `health` of their options. `registerOTel()` passes its own, which reports it all as
 * the semantic conventions' `otel.sdk.exporter.*` and `otel.sdk.processor.*` metrics; implement
 * it to count delivery yourself.
 */
export interface OtlpHealth {
  /** Registers an exporter that sends to `url`; `held` counts the items it holds now. */
  exporter(signal: TelemetrySignal, componentType: string, url: string, held: () => number): ExporterTally;
  /** Registers a batch processor; `queued` counts the items in its queue now. */
  processor(signal: TelemetrySignal, componentType: string, capacity: number, queued: () => number): ProcessorTally;
  /** Reports it all through `meterProvider`'s instruments from now on. */
  observe(meterProvider: MeterProvider): void;
  /** Items of `signal` lost since the start, by the exporters and the processors. */
  lost(signal: TelemetrySignal): number;
}

function serverAttributes(url: string): Attributes {
  try {
    const parsed = new URL(url);
    const port = parsed.port ? Number(parsed.port) : parsed.protocol === 'https:' ? 443 : 80;
    const host = parsed.hostname.startsWith('[') ? parsed.hostname.slice(1, -1) : parsed.hostname;
    return { [ATTR_SERVER_ADDRESS]: host, [ATTR_SERVER_PORT]: port };
  } catch {
    return {};
  }
}

function count(component: Component): (n: number) => void {
  return (n) => void (component.ok += n);
}

function countFailure(component: Component): (n: number, errorType: string) => void {
  return (n, errorType) => void component.failures.set(errorType, (component.failures.get(errorType) ?? 0) + n);
}

class Health implements OtlpHealth {
  #exporters: ExporterComponent[] = [];
  #processors: ProcessorComponent[] = [];
  /** Instances per component type, for `otel.component.name` = `<type>/<n>`. */
  #instances = new Map<string, number>();

  #name(type: string): string {
    const n = this.#instances.get(type) ?? 0;
    this.#instances.set(type, n + 1);
    return `${type}/${n}`;
  }

  exporter(signal: TelemetrySignal, componentType: string, url: string, held: () => number): ExporterTally {
    const component: ExporterComponent = {
      signal,
      attributes: {
        [ATTR_OTEL_COMPONENT_TYPE]: componentType,
        [ATTR_OTEL_COMPONENT_NAME]: this.#name(componentType),
        ...serverAttributes(url),
      },
      ok: 0,
      failures: new Map(),
      held,
    };
    this.#exporters.push(component);
    return { exported: count(component), failed: countFailure(component) };
  }

  processor(signal: TelemetrySignal, componentType: string, capacity: number, queued: () => number): ProcessorTally {
    const component: ProcessorComponent = {
      signal,
      attributes: { [ATTR_OTEL_COMPONENT_TYPE]: componentType, [ATTR_OTEL_COMPONENT_NAME]: this.#name(componentType) },
      ok: 0,
      failures: new Map(),
      queued,
      capacity,
    };
    this.#processors.push(component);
    return { processed: count(component), failed: countFailure(component) };
  }

  lost(signal: TelemetrySignal): number {
    let lost = 0;
    for (const component of [...this.#exporters, ...this.#processors]) {
      if (component.signal === signal) { for (const n of component.failures.values()) lost += n; }
    }
    return lost;
  }

  observe(meterProvider: MeterProvider): void {
    const meter = meterProvider.getMeter(SELF_METRICS_SCOPE, VERSION);
    for (const signal of ['traces', 'logs', 'metrics'] as const) {
      const { item, unit, plural, processorKind } = NAMES[signal];
      const exporters = this.#exporters.filter((c) => c.signal === signal);
      if (exporters.length > 0) {
        const inflight = meter.createObservableUpDownCounter(`otel.sdk.exporter.${item}.inflight`, {
          unit,
          valueType: ValueType.INT,
          description:
            `The number of ${plural} which were passed to the exporter, but that have not been exported yet (neither successful, nor failed).`,
        });
        const exported = meter.createObservableCounter(`otel.sdk.exporter.${item}.exported`, {
          unit,
          valueType: ValueType.INT,
          description: `The number of ${plural} for which the export has finished, either successful or failed.`,
        });
        inflight.addCallback((result) => {
          for (const c of exporters) result.observe(c.held(), c.attributes);
        });
        exported.addCallback((result) => observeOutcomes(result, exporters));
      }
      const processors = this.#processors.filter((c) => c.signal === signal);
      if (processors.length > 0) {
        const prefix = `otel.sdk.processor.${item}`;
        const size = meter.createObservableUpDownCounter(`${prefix}.queue.size`, {
          unit,
          valueType: ValueType.INT,
          description: `The number of ${plural} in the queue of a given instance of an SDK ${processorKind}.`,
        });
        const capacity = meter.createObservableUpDownCounter(`${prefix}.queue.capacity`, {
          unit,
          valueType: ValueType.INT,
          description:
            `The maximum number of ${plural} the queue of a given instance of an SDK ${processorKind} can hold.`,
        });
        const processed = meter.createObservableCounter(`${prefix}.processed`, {
          unit,
          valueType: ValueType.INT,
          description: `The number of ${plural} for which the processing has finished, either successful or failed.`,
        });
        size.addCallback((result) => {
          for (const c of processors) result.observe(c.queued(), c.attributes);
        });
        capacity.addCallback((result) => {
          for (const c of processors) result.observe(c.capacity, c.attributes);
        });
        processed.addCallback((result) => observeOutcomes(result, processors));
      }
    }
  }
}

/** Successes without `error.type`, failures with it, as the conventions ask. */
function observeOutcomes(result: ObservableResult, components: Component[]): void {
  for (const c of components) {
    result.observe(c.ok, c.attributes);
    for (const [errorType, n] of c.failures) result.observe(n, { ...c.attributes, [ATTR_ERROR_TYPE]: errorType });
  }
}

export function createOtlpHealth(): OtlpHealth {
  return new Health();
}
