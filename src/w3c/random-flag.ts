/**
 * W3C Trace Context Level 2's *random* trace flag (bit 1 of `trace-flags`), which the SDK
 * drops: it gives every new span only the sampled flag. Level 2 says the flag travels with the
 * trace id, so that services downstream may sample or shard on the id's randomness:
 *
 * - a span continuing a trace whose parent has the flag keeps it, sampled or not;
 * - a span starting a trace gets it, because the SDK's `RandomIdGenerator` draws every bit of
 *   the trace id (pseudo-)randomly, which is what the flag promises for the right-most 7 bytes.
 *
 * The flag is set on the new span's own `SpanContext` right after the SDK has made it, before
 * anything can read, inject or export it. That relies on the SDK's spans returning their
 * SpanContext object itself rather than a copy; tests/unit/random-flag.test.ts checks it on
 * recording and non-recording spans, so an SDK that changed this would fail the tests.
 */
import {
  type Context,
  context,
  INVALID_SPAN_CONTEXT,
  INVALID_TRACEID,
  type Span,
  type SpanOptions,
  trace,
  type Tracer,
  type TracerOptions,
  type TracerProvider,
} from '@opentelemetry/api';

/** The random trace flag, bit 1 of W3C `trace-flags` (Level 2). */
export const RANDOM_TRACE_FLAG = 0x02;

function markRandom(span: Span, parentContext: Context, options: SpanOptions | undefined): void {
  const own = span.spanContext();
  // With tracing suppressed the SDK hands out the API's shared INVALID_SPAN_CONTEXT: never
  // write to that. (Compared, not validated: isSpanContextValid runs two regular expressions,
  // and every other span context here comes from the SDK's id generator.)
  if (own === INVALID_SPAN_CONTEXT || own.traceId === INVALID_TRACEID) return;
  const parent = options?.root ? undefined : trace.getSpanContext(parentContext);
  // Sharing the new span's (valid) trace id makes the parent valid enough to read its flags.
  const continued = parent !== undefined && parent.traceId === own.traceId;
  const random = continued ? (parent.traceFlags & RANDOM_TRACE_FLAG) !== 0 : true;
  // The SDK sets only the sampled bit, so there is nothing to clear otherwise.
  if (random) own.traceFlags |= RANDOM_TRACE_FLAG;
}

type ActiveSpanCallback<F> = (span: Span) => F;

function withRandomFlag(tracer: Tracer): Tracer {
  const startSpan = (name: string, options?: SpanOptions, parentContext: Context = context.active()): Span => {
    const span = tracer.startSpan(name, options, parentContext);
    markRandom(span, parentContext, options);
    return span;
  };
  // The API's three overloads: (name, fn), (name, options, fn), (name, options, context, fn).
  function startActiveSpan<F>(name: string, ...args: unknown[]): F {
    const fn = args[args.length - 1] as ActiveSpanCallback<F>;
    const options = args.length >= 2 ? (args[0] as SpanOptions | undefined) : undefined;
    const parentContext = args.length >= 3 ? ((args[1] as Context | undefined) ?? context.active()) : context.active();
    const span = startSpan(name, options, parentContext);
    return context.with(trace.setSpan(parentContext, span), fn, undefined, span);
  }
  return { startSpan, startActiveSpan } as Tracer;
}

/**
 * `provider` with tracers that give their spans W3C Trace Context Level 2's random trace flag,
 * which the SDK drops: a new trace gets it (the SDK draws trace ids at random), and a span
 * continuing a trace keeps its parent's. `registerOTel()` wraps its tracer provider this way;
 * flush and shut down `provider` itself.
 *
 * @example
 * ```ts
 * import { TracerProvider } from '@opentelemetry/sdk-trace';
 * import { RANDOM_TRACE_FLAG, tracerProviderWithRandomFlag } from '@rolldice/otel';
 *
 * const tracer = tracerProviderWithRandomFlag(new TracerProvider()).getTracer('my-app');
 * const span = tracer.startSpan('work');
 * (span.spanContext().traceFlags & RANDOM_TRACE_FLAG) !== 0; // true
 * ```
 */
export function tracerProviderWithRandomFlag(provider: TracerProvider): TracerProvider {
  return {
    getTracer: (name: string, version?: string, options?: TracerOptions) =>
      withRandomFlag(provider.getTracer(name, version, options)),
  };
}
