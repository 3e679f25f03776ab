/**
 * W3C Trace Context (Level 2) and W3C Baggage exactly as the specifications say, around the
 * official `@opentelemetry/core` propagators where they already do so. Each rule below that
 * core 3.1.1 does not follow is marked "core:".
 */
import {
  type Baggage,
  type BaggageEntry,
  baggageEntryMetadataFromString,
  isSpanContextValid,
  propagation,
  type TextMapGetter,
  type TextMapPropagator,
  type TextMapSetter,
  trace,
  type TraceState,
} from '@opentelemetry/api';
import { CompositePropagator, isTracingSuppressed, W3CTraceContextPropagator } from '@opentelemetry/core';

const TRACEPARENT = 'traceparent';
const TRACESTATE = 'tracestate';
const BAGGAGE = 'baggage';

// traceparent: version 00 is exactly this; a higher version starts with it and may go on
// with "-" and fields this version knows nothing about.
const TRACEPARENT_00 = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;
const TRACEPARENT_FUTURE = /^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(?:-.*)?$/;
const ALL_ZEROS = /^0+$/;
// The flags Level 2 defines: sampled (bit 0) and random (bit 1). Others are sent as 0.
const KNOWN_TRACE_FLAGS = 0x03;

// tracestate (Level 2): `key = ( lcalpha / DIGIT ) 0*255 keychar`, `@` a plain keychar, so
// multi-tenant `tenant@system` keys are simply keys; `value = 0*255(chr) nblk-chr`.
// core: Level 1 keys (a simple key starts with a letter; tenant <= 241, system <= 14
// characters starting with a letter), so `1a`, `a@`, `a@@b`, `a@b@c` or `t@vvv...` are dropped.
const TRACESTATE_KEY = /^[a-z0-9][a-z0-9_\-*/@]{0,255}$/;
const TRACESTATE_VALUE = /^[\x20-\x2b\x2d-\x3c\x3e-\x7e]{0,255}[\x21-\x2b\x2d-\x3c\x3e-\x7e]$/;
const TRACESTATE_MAX_MEMBERS = 32;
// The length the spec asks every vendor to propagate at least; longer lists are truncated
// the way it says: members over 128 characters first, then from the end.
const TRACESTATE_MAX_LENGTH = 512;
const TRACESTATE_LONG_MEMBER = 128;

// baggage: keys are RFC 7230 tokens (never percent-encoded), values and property values are
// baggage-octets (a value is a percent-encoded UTF-8 string).
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const BAGGAGE_OCTETS = /^[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]*$/;
// The W3C limits are minimums ("at least 64 list-members, at least 8192 bytes"); these are
// the ones core uses. core: also drops any member over 4096 bytes, a limit of an earlier
// draft, even when the whole header is within 8192.
const BAGGAGE_MAX_MEMBERS = 180;
const BAGGAGE_MAX_LENGTH = 8192;

/**
 * Optional whitespace of RFC 7230: spaces and tabs only. core: trims with `\s` or `trim()`,
 * which also take a no-break space or a vertical tab for whitespace.
 */
function trimOws(text: string): string {
  let start = 0;
  let end = text.length;
  while (start < end && (text[start] === ' ' || text[start] === '\t')) start++;
  while (end > start && (text[end - 1] === ' ' || text[end - 1] === '\t')) end--;
  return text.slice(start, end);
}

/** One header's value as a string, with several header lines joined by commas. */
function headerValue(raw: string | string[] | undefined): string | undefined {
  if (Array.isArray(raw)) return raw.length === 0 ? undefined : raw.join(',');
  return typeof raw === 'string' ? raw : undefined;
}

const recordGetter: TextMapGetter<Record<string, string>> = {
  keys: (carrier) => Object.keys(carrier),
  get: (carrier, key) => carrier[key],
};

interface ParsedTraceParent {
  traceId: string;
  spanId: string;
  traceFlags: number;
}

/**
 * Parses a `traceparent` per the Level 2 processing model, or returns undefined for a new
 * trace: version `ff`, upper-case hex, wrong lengths, all-zero ids and trailing data after a
 * version 00 header are invalid; a higher version is read by its version 00 prefix.
 */
function parseTraceParent(raw: string | string[] | undefined): ParsedTraceParent | undefined {
  // Several traceparent header lines make the request's position ambiguous: restart. A
  // runtime's Headers joins them with ", ", and no valid traceparent holds a comma. core:
  // takes the first of an array, and a joined pair of future-version headers as valid.
  if (Array.isArray(raw) && raw.length !== 1) return undefined;
  const joined = headerValue(raw);
  if (joined === undefined || joined.includes(',')) return undefined;
  const value = trimOws(joined);
  const match = value.startsWith('00-') ? TRACEPARENT_00.exec(value) : TRACEPARENT_FUTURE.exec(value);
  if (!match) return undefined;
  const [traceId, spanId, flags] = value.startsWith('00-') ? match.slice(1, 4) : match.slice(2, 5);
  if (match[0].startsWith('ff-') || ALL_ZEROS.test(traceId!) || ALL_ZEROS.test(spanId!)) return undefined;
  // Only the flags this version defines are read; unknown bits are not carried on. core:
  // keeps all 8 bits, and injects 0xff as "0ff", an invalid header.
  return { traceId: traceId!, spanId: spanId!, traceFlags: parseInt(flags!, 16) & KNOWN_TRACE_FLAGS };
}

/**
 * A `tracestate` list with the Level 2 key grammar, kept in order, leftmost first. It is
 * immutable: `set` and `unset` return a new list, as the OpenTelemetry API asks.
 *
 * @example
 * ```ts
 * import { W3CTraceState } from '@rolldice/otel';
 *
 * const state = W3CTraceState.parse('rojo=00f067aa0ba902b7,congo=t61rcWkgMzE');
 * state.set('congo', 'ucfJifl5GOE').serialize(); // 'congo=ucfJifl5GOE,rojo=00f067aa0ba902b7'
 * ```
 */
export class W3CTraceState implements TraceState {
  readonly #members: ReadonlyMap<string, string>;

  private constructor(members: ReadonlyMap<string, string>) {
    this.#members = members;
  }

  /**
   * Parses a combined `tracestate` header (several header lines joined by commas, in order).
   * Empty members are skipped; a member that is not `key=value` with the Level 2 grammar, a
   * repeated key or more than 32 members make the whole header invalid, and it is discarded
   * (an empty list), as the official W3C test suite checks at its strict level. A valid list is
   * cut to 512 characters the way the spec says. core: drops invalid members one by one, keeps
   * the rest, and cuts a longer list to its first 32 members.
   */
  static parse(header: string): W3CTraceState {
    const members = new Map<string, string>();
    for (const part of header.split(',')) {
      const member = trimOws(part);
      if (member === '') continue; // empty and whitespace-only members are allowed
      const equals = member.indexOf('=');
      const key = member.slice(0, equals);
      const value = member.slice(equals + 1);
      if (
        equals < 0 || !TRACESTATE_KEY.test(key) || !TRACESTATE_VALUE.test(value) || members.has(key) ||
        members.size === TRACESTATE_MAX_MEMBERS
      ) {
        return EMPTY_TRACE_STATE;
      }
      members.set(key, value);
    }
    return new W3CTraceState(truncate(members));
  }

  /** The number of members. */
  get size(): number {
    return this.#members.size;
  }

  get(key: string): string | undefined {
    return this.#members.get(key);
  }

  /** Adds or updates a member and moves it to the front, as the spec asks; invalid ones are ignored. */
  set(key: string, value: string): TraceState {
    if (!TRACESTATE_KEY.test(key) || !TRACESTATE_VALUE.test(value)) return this;
    const members = new Map([[key, value]]);
    for (const [k, v] of this.#members) if (k !== key) members.set(k, v);
    return new W3CTraceState(truncate(members));
  }

  unset(key: string): TraceState {
    if (!this.#members.has(key)) return this;
    const members = new Map(this.#members);
    members.delete(key);
    return new W3CTraceState(members);
  }

  serialize(): string {
    return [...this.#members].map(([key, value]) => `${key}=${value}`).join(',');
  }
}

const EMPTY_TRACE_STATE: W3CTraceState = W3CTraceState.parse('');

/**
 * Cuts a list to the limits, dropping whole members the way the spec says. core: skips, from
 * left to right, whichever member would overflow 512 characters, long or not.
 */
function truncate(members: Map<string, string>): Map<string, string> {
  const entries = [...members];
  if (entries.length > TRACESTATE_MAX_MEMBERS) entries.length = TRACESTATE_MAX_MEMBERS;
  const length = (list: [string, string][]) =>
    list.reduce((n, [k, v]) => n + k.length + v.length + 1, 0) + list.length - 1;
  while (entries.length > 0 && length(entries) > TRACESTATE_MAX_LENGTH) {
    let drop = entries.length - 1;
    for (let i = entries.length - 1; i >= 0; i--) {
      if (entries[i]![0].length + entries[i]![1].length + 1 > TRACESTATE_LONG_MEMBER) {
        drop = i;
        break;
      }
    }
    entries.splice(drop, 1);
  }
  return entries.length === members.size ? members : new Map(entries);
}

/**
 * The W3C Trace Context propagator, Level 2: reads and writes `traceparent` and `tracestate`.
 * Extraction validates `traceparent` itself, then lets core's `W3CTraceContextPropagator`
 * build the remote span context; `tracestate` is parsed with the Level 2 grammar
 * ({@link W3CTraceState}) and only when `traceparent` is valid. Injection masks unknown trace
 * flags and never sends an empty `tracestate`.
 *
 * @example
 * ```ts
 * import { ROOT_CONTEXT, type TextMapGetter, trace } from '@opentelemetry/api';
 * import { createW3CTraceContextPropagator } from '@rolldice/otel';
 *
 * const getter: TextMapGetter<Headers> = { keys: (h) => [...h.keys()], get: (h, key) => h.get(key) ?? undefined };
 * const headers = new Headers({ traceparent: '00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' });
 * const parent = createW3CTraceContextPropagator().extract(ROOT_CONTEXT, headers, getter);
 * trace.getSpanContext(parent)?.traceId; // '4bf92f3577b34da6a3ce929d0e0e4736'
 * ```
 */
export function createW3CTraceContextPropagator(): TextMapPropagator {
  const core = new W3CTraceContextPropagator();
  return {
    extract(context, carrier, getter) {
      const parsed = parseTraceParent(getter.get(carrier, TRACEPARENT));
      if (parsed === undefined) return context;
      const { traceId, spanId, traceFlags } = parsed;
      const canonical = `00-${traceId}-${spanId}-${traceFlags.toString(16).padStart(2, '0')}`;
      const extracted = core.extract(context, { [TRACEPARENT]: canonical }, recordGetter);
      const spanContext = trace.getSpanContext(extracted);
      if (!spanContext) return context;
      const tracestate = headerValue(getter.get(carrier, TRACESTATE));
      const traceState = tracestate === undefined ? undefined : W3CTraceState.parse(tracestate);
      return traceState !== undefined && traceState.size > 0
        ? trace.setSpanContext(extracted, { ...spanContext, traceState })
        : extracted;
    },
    inject(context, carrier, setter) {
      const spanContext = trace.getSpanContext(context);
      if (!spanContext || !isSpanContextValid(spanContext) || isTracingSuppressed(context)) return;
      // Any TraceState (a sampler's, say) goes out within the limits, and not at all when
      // empty. core: sends an empty `tracestate` when every member was invalid.
      const serialized = spanContext.traceState?.serialize() ?? '';
      const traceState = serialized === '' ? undefined : W3CTraceState.parse(serialized);
      core.inject(
        trace.setSpanContext(context, {
          ...spanContext,
          traceFlags: spanContext.traceFlags & KNOWN_TRACE_FLAGS,
          traceState: traceState !== undefined && traceState.size > 0 ? traceState : undefined,
        }),
        carrier,
        setter,
      );
    },
    fields: () => [TRACEPARENT, TRACESTATE],
  };
}

/**
 * Parses the properties after a baggage value, normalised to `k=v;k` without optional
 * whitespace; undefined if one is invalid. core: keeps the raw text, whitespace and all.
 */
function parseProperties(parts: string[]): string | undefined {
  const properties: string[] = [];
  for (const part of parts) {
    const property = trimOws(part);
    const equals = property.indexOf('=');
    if (equals < 0) {
      if (!TOKEN.test(property)) return undefined;
      properties.push(property);
      continue;
    }
    const key = trimOws(property.slice(0, equals));
    const value = trimOws(property.slice(equals + 1));
    if (!TOKEN.test(key) || !BAGGAGE_OCTETS.test(value)) return undefined;
    properties.push(`${key}=${value}`);
  }
  return properties.join(';');
}

function parseBaggageMember(member: string): { key: string; entry: BaggageEntry } | undefined {
  const [pair, ...propertyParts] = member.split(';');
  const equals = pair!.indexOf('=');
  if (equals < 0) return undefined;
  const key = trimOws(pair!.slice(0, equals));
  const rawValue = trimOws(pair!.slice(equals + 1));
  // An empty value is valid (`value = *baggage-octet`). core: drops it, takes any key or
  // value (`a b`, `x"y`) and percent-decodes keys, so `a%41` becomes another key, `aA`.
  if (!TOKEN.test(key) || !BAGGAGE_OCTETS.test(rawValue)) return undefined;
  let value: string;
  try {
    value = decodeURIComponent(rawValue);
  } catch {
    return undefined; // not a percent-encoded UTF-8 string
  }
  const properties = parseProperties(propertyParts);
  if (properties === undefined) return undefined;
  return {
    key,
    entry: properties === '' ? { value } : { value, metadata: baggageEntryMetadataFromString(properties) },
  };
}

/** A baggage entry as a list-member, or undefined when its key cannot be sent as a token. */
function serializeBaggageMember(key: string, entry: BaggageEntry): string | undefined {
  // core: percent-encodes keys, which turns a valid token like `a#b` into another key.
  if (!TOKEN.test(key)) return undefined;
  const member = `${key}=${encodeURIComponent(entry.value)}`;
  const metadata = entry.metadata?.toString();
  const properties = metadata ? parseProperties(metadata.split(';')) : undefined;
  return properties ? `${member};${properties}` : member;
}

/**
 * The W3C Baggage propagator: reads and writes the `baggage` header. Keys are tokens taken as
 * they are, values percent-decoded, an empty value kept, properties kept (normalised), invalid
 * members dropped, a repeated key keeps its last entry, and at most 180 members and 8192 bytes
 * are read or sent.
 *
 * @example
 * ```ts
 * import { context, propagation, type TextMapSetter } from '@opentelemetry/api';
 * import { createW3CBaggagePropagator } from '@rolldice/otel';
 *
 * const setter: TextMapSetter<Headers> = { set: (h, key, value) => h.set(key, value) };
 * const baggage = propagation.createBaggage({ 'user.tier': { value: 'gold' } });
 * const headers = new Headers();
 * createW3CBaggagePropagator().inject(propagation.setBaggage(context.active(), baggage), headers, setter);
 * headers.get('baggage'); // 'user.tier=gold'
 * ```
 */
export function createW3CBaggagePropagator(): TextMapPropagator {
  return {
    extract(context, carrier, getter) {
      const header = headerValue(getter.get(carrier, BAGGAGE));
      if (header === undefined) return context;
      const members = new Map<string, BaggageEntry>();
      let length = 0;
      for (const part of header.split(',')) {
        const member = trimOws(part);
        if (member === '') continue; // an empty list element, e.g. from joining header lines
        const parsed = parseBaggageMember(member);
        if (parsed === undefined) continue;
        const added = (length === 0 ? 0 : 1) + member.length;
        if (members.size >= BAGGAGE_MAX_MEMBERS || length + added > BAGGAGE_MAX_LENGTH) break;
        length += added;
        members.delete(parsed.key);
        members.set(parsed.key, parsed.entry);
      }
      if (members.size === 0) return context;
      // Entry by entry. core: builds a record, which reorders numeric keys and loses `__proto__`.
      let baggage: Baggage = propagation.createBaggage();
      for (const [key, entry] of members) baggage = baggage.setEntry(key, entry);
      return propagation.setBaggage(context, baggage);
    },
    inject(context, carrier, setter) {
      const baggage = propagation.getBaggage(context);
      if (!baggage || isTracingSuppressed(context)) return;
      const members: string[] = [];
      let length = 0;
      for (const [key, entry] of baggage.getAllEntries()) {
        const member = serializeBaggageMember(key, entry);
        if (member === undefined) continue;
        const added = (members.length === 0 ? 0 : 1) + member.length;
        if (members.length >= BAGGAGE_MAX_MEMBERS || length + added > BAGGAGE_MAX_LENGTH) continue;
        members.push(member);
        length += added;
      }
      if (members.length > 0) setter.set(carrier, BAGGAGE, members.join(','));
    },
    fields: () => [BAGGAGE],
  };
}

/** Sets headers on a `Headers` object, for injecting into outgoing requests. */
export const headersSetter: TextMapSetter<Headers> = {
  set: (headers, key, value) => headers.set(key, value),
};

/**
 * The W3C propagators named, in order, as one, as `OTEL_PROPAGATORS` lists them: W3C Trace
 * Context and W3C Baggage unless `names` says otherwise. `registerOTel()` installs it as the
 * API's global propagator; an SDK set up by hand can do the same.
 *
 * @example
 * ```ts
 * import { propagation } from '@opentelemetry/api';
 * import { createW3CPropagator } from '@rolldice/otel';
 *
 * propagation.setGlobalPropagator(createW3CPropagator(['tracecontext', 'baggage']));
 * ```
 */
export function createW3CPropagator(
  names: readonly ('tracecontext' | 'baggage')[] = ['tracecontext', 'baggage'],
): TextMapPropagator {
  return new CompositePropagator({
    propagators: names.map((
      name,
    ) => (name === 'baggage' ? createW3CBaggagePropagator() : createW3CTraceContextPropagator())),
  });
}
