import {
  type Attributes,
  type LoggerProvider,
  type MeterProvider,
  SeverityNumber,
  type TracerProvider,
  ValueType,
} from '@opentelemetry/api';
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
}

/**
 * The seed's `rolldice` handler: rolls 1..6 inside a `roll` span, logs who rolled with the
 * result, and counts the roll on `dice.rolls` by `roll.value`.
 */
export function createRollDice(options: RollDiceOptions): (player: string | undefined) => Response {
  const { random = Math.random } = options;
  const tracer = options.tracerProvider.getTracer(ROLLDICE_SCOPE);
  const logger = options.loggerProvider.getLogger(ROLLDICE_SCOPE);
  const rolls = options.meterProvider.getMeter(ROLLDICE_SCOPE).createCounter('dice.rolls', {
    description: 'The number of rolls by roll value',
    unit: '{roll}',
    valueType: ValueType.INT,
  });
  // One attribute set per face, made once rather than per request.
  const faces: Attributes[] = [1, 2, 3, 4, 5, 6].map((value) => ({ 'roll.value': value }));

  return (player) => {
    if (player !== undefined && player.length > MAX_PLAYER_NAME_LENGTH) {
      return textResponse(400, `Bad Request: the player name is longer than ${MAX_PLAYER_NAME_LENGTH} characters`);
    }
    return tracer.startActiveSpan('roll', (span) => {
      const roll = 1 + Math.floor(random() * 6);
      // Emitted inside the active `roll` span, so the record carries its trace and span ids.
      logger.emit({
        severityNumber: SeverityNumber.INFO,
        severityText: 'INFO',
        body: `${player ?? 'Anonymous player'} is rolling the dice`,
        attributes: { result: roll },
      });
      span.setAttributes(faces[roll - 1]!);
      rolls.add(1, faces[roll - 1]);
      span.end();
      return textResponse(200, String(roll));
    });
  };
}
