/**
 * What is registered in `@opentelemetry/api`'s global registry, read where the API keeps it:
 * one object on `globalThis` per API major version, shared by every copy of the API in the
 * process. The API itself only says whether a registration failed, after the fact; this tells
 * beforehand, and also sees what a runtime (Deno's built-in OpenTelemetry) or another copy of
 * the API registered.
 */

/** The registry's key: `opentelemetry.js.api.${major}` (api/src/internal/global-utils.ts). */
const API_REGISTRY = Symbol.for('opentelemetry.js.api.1');

/** The global slots a telemetry setup fills. */
export type GlobalSlot = 'trace' | 'metrics' | 'logs' | 'propagation';

/** What each slot holds; undefined when nothing is registered there. */
export function registeredGlobal(slot: GlobalSlot): unknown {
  const registry = (globalThis as Record<symbol, Partial<Record<GlobalSlot, unknown>> | undefined>)[API_REGISTRY];
  return registry?.[slot];
}
