import {
  createHttpServerInstrumentation,
  createInstrumentedFetch,
  type FetchHandler,
  type Telemetry,
} from '../../mod.ts';
import { createRollDice } from './dice.ts';
import { createRouter, textBodySize } from './router.ts';
import { checkUpstream } from './config.ts';

export interface CreateAppOptions {
  /** A number in [0, 1), like `Math.random`. @default Math.random */
  random?: () => number;
  /**
   * The base URL of another dice service (e.g. `http://dice-b:8080`, `ROLLDICE_UPSTREAM`) whose
   * `/rolldice/{player}` answers every roll, called with an instrumented fetch inside the `roll`
   * span; its failures become `502`. @default undefined: roll here
   */
  upstream?: string;
  /** How long to wait for the upstream's answer. @default 5000 */
  upstreamTimeoutMillis?: number;
  /** The fetch under the instrumented one that calls the upstream. @default globalThis.fetch */
  fetch?: typeof fetch;
}

/** The default of {@link CreateAppOptions.upstreamTimeoutMillis}. */
export const DEFAULT_UPSTREAM_TIMEOUT_MILLIS = 5_000;

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
  const { random, upstream, upstreamTimeoutMillis = DEFAULT_UPSTREAM_TIMEOUT_MILLIS } = options;
  if (upstream !== undefined) checkUpstream(upstream);
  const rollDice = createRollDice({
    ...telemetry,
    random,
    upstream: upstream === undefined ? undefined : {
      url: upstream,
      fetch: createInstrumentedFetch({ ...telemetry, fetch: options.fetch }),
      timeoutMillis: upstreamTimeoutMillis,
    },
  });
  // The handlers pass the request's context on themselves: no AsyncLocalStorage frame per request.
  // The body sizes are the seed's request_content_length and response_content_length, renamed.
  const instrumentation = telemetry.enabled
    ? createHttpServerInstrumentation({
      ...telemetry,
      activateContext: false,
      bodySizeMetrics: true,
      responseBodySize: textBodySize,
    })
    : undefined;
  return createRouter(
    [
      { pattern: '/rolldice', methods: ['GET'], handle: (_, { context }) => rollDice(undefined, context) },
      { pattern: '/rolldice/', methods: ['GET'], handle: (_, { context }) => rollDice(undefined, context) },
      {
        pattern: '/rolldice/{player}',
        methods: ['GET'],
        handle: (_, { params, context }) => rollDice(params[0], context),
      },
    ],
    instrumentation,
  );
}
