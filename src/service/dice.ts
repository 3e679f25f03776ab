import {
  type Attributes,
  type Context,
  context,
  type LoggerProvider,
  type MeterProvider,
  SeverityNumber,
  SpanStatusCode,
  trace,
  type TracerProvider,
  ValueType,
} from '@opentelemetry/api';
import { describeError, readBodyUpTo, redactUrl } from '../../mod.ts';
import { textResponse } from './router.ts';

/** The instrumentation scope of the dice's own spans, metrics and logs, as in the seed. */
export const ROLLDICE_SCOPE = 'rolldice';

/** Longer player names are refused with 400: they would only bloat every log record. */
export const MAX_PLAYER_NAME_LENGTH = 256;

export interface RollDiceOptions {
  tracerProvider: TracerProvider;
  meterProvider: MeterProvider;
  loggerProvider: LoggerProvider;
  /** A number in [0, 1), like `Math.random`. @default Math.random */
  random?: () => number;
  /** Take the rolls from another dice service instead of rolling here. */
  upstream?: RollDiceUpstream;
}

/** Another dice service whose `/rolldice/{player}` answers the rolls. */
export interface RollDiceUpstream {
  /** Its base URL, e.g. `http://dice-b:8080`; `/rolldice/...` is appended to its path. */
  url: string;
  /** The fetch that calls it, normally an instrumented one. */
  fetch: typeof fetch;
  /** How long to wait for its answer, body included. */
  timeoutMillis: number;
}

/**
 * The seed's `rolldice` handler: rolls 1..6 inside a `roll` span, logs who rolled with the
 * result, and counts the roll on `dice.rolls` by `roll.value`. Like the seed's
 * `tracer.Start(r.Context(), "roll")`, it takes the request's context as an argument (the
 * active one when not given), and makes `roll` the active span only around the upstream call,
 * the one place where code it does not own (the instrumented fetch) looks for it.
 */
export function createRollDice(
  options: RollDiceOptions,
): (player: string | undefined, parent?: Context) => Response | Promise<Response> {
  const { random = Math.random, upstream } = options;
  const tracer = options.tracerProvider.getTracer(ROLLDICE_SCOPE);
  const logger = options.loggerProvider.getLogger(ROLLDICE_SCOPE);
  const rolls = options.meterProvider.getMeter(ROLLDICE_SCOPE).createCounter('dice.rolls', {
    description: 'The number of rolls by roll value',
    unit: '{roll}',
    valueType: ValueType.INT,
  });
  // Credentials in the upstream's URL are not for the client's eyes.
  const upstreamShown = upstream === undefined ? '' : redactUrl(new URL(upstream.url));
  // One attribute set per face, made once rather than per request.
  const faces: Attributes[] = [1, 2, 3, 4, 5, 6].map((value) => ({ 'roll.value': value }));

  return (player, parent = context.active()) => {
    if (player !== undefined && player.length > MAX_PLAYER_NAME_LENGTH) {
      return textResponse(400, `Bad Request: the player name is longer than ${MAX_PLAYER_NAME_LENGTH} characters`);
    }
    const span = tracer.startSpan('roll', undefined, parent);
    const inRoll = trace.setSpan(parent, span);
    const record = (roll: number): Response => {
      // In the `roll` span's context, so the record carries its trace and span ids.
      logger.emit({
        severityNumber: SeverityNumber.INFO,
        severityText: 'INFO',
        body: `${player ?? 'Anonymous player'} is rolling the dice`,
        attributes: { result: roll },
        context: inRoll,
      });
      span.setAttributes(faces[roll - 1]!);
      rolls.add(1, faces[roll - 1], inRoll);
      span.end();
      return textResponse(200, String(roll));
    };
    if (upstream === undefined) return record(1 + Math.floor(random() * 6));
    // The upstream's client span is a child of `roll`, active while the upstream is called.
    return context.with(inRoll, async () => {
      const rolled = await rollUpstream(upstream, player);
      if (typeof rolled === 'number') return record(rolled);
      span.setStatus({ code: SpanStatusCode.ERROR, message: `the upstream ${rolled}` });
      span.end();
      return textResponse(502, `Bad Gateway: the upstream at ${upstreamShown} ${rolled}`);
    });
  };
}

// A roll is "1\n" to "6\n"; more than this many bytes is not a roll, whatever follows.
const MAX_ROLL_BYTES = 64;

/** The upstream's roll, or why there is none (a phrase that follows "the upstream at URL"). */
async function rollUpstream(upstream: RollDiceUpstream, player: string | undefined): Promise<number | string> {
  const base = new URL(upstream.url);
  base.pathname = `${base.pathname.replace(/\/+$/, '')}/rolldice${
    player === undefined ? '' : `/${encodeURIComponent(player)}`
  }`;
  base.search = '';
  base.hash = '';
  const signal = AbortSignal.timeout(upstream.timeoutMillis);
  try {
    const response = await upstream.fetch(base.href, { signal, headers: { accept: 'text/plain' } });
    if (response.status !== 200) {
      await response.body?.cancel();
      return `answered ${response.status} rather than 200`;
    }
    // One byte past the limit tells a body that is too long from one that just fits.
    const text = new TextDecoder().decode(await readBodyUpTo(response, MAX_ROLL_BYTES + 1)).trim();
    return /^[1-6]$/.test(text)
      ? Number(text)
      : `answered ${JSON.stringify(text.slice(0, 20))} rather than a roll from 1 to 6`;
  } catch (error) {
    if (signal.aborted) return `did not answer within ${upstream.timeoutMillis} ms`;
    return `cannot be reached: ${describeError(error)}`;
  }
}
