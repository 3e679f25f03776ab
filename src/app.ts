import { createHttpServerInstrumentation, type FetchHandler } from './http-server.ts';
import { createRollDice } from './rolldice.ts';
import { createRouter } from './router.ts';
import type { Telemetry } from './sdk.ts';

export interface CreateAppOptions {
  /** A number in [0, 1), like `Math.random`. @default Math.random */
  random?: () => number;
}

/**
 * The dice service as one web-standard handler: `GET /rolldice`, `/rolldice/` and
 * `/rolldice/{player}`, each instrumented with the server instrumentation.
 *
 * @example
 * ```ts
 * const handler = createApp(setupTelemetry({ config: parseConfig(env, warn), runtime }));
 * const response = await handler(new Request('http://localhost/rolldice/Alice'));
 * ```
 */
export function createApp(telemetry: Telemetry, options: CreateAppOptions = {}): FetchHandler {
  const rollDice = createRollDice({ ...telemetry, ...options });
  const instrumentation = telemetry.enabled ? createHttpServerInstrumentation(telemetry) : undefined;
  return createRouter(
    [
      { pattern: '/rolldice', methods: ['GET'], handle: () => rollDice(undefined) },
      { pattern: '/rolldice/', methods: ['GET'], handle: () => rollDice(undefined) },
      { pattern: '/rolldice/{player}', methods: ['GET'], handle: (_, { params }) => rollDice(params[0]) },
    ],
    instrumentation,
  );
}
