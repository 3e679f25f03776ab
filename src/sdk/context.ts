import { context } from '@opentelemetry/api';
// The one runtime-specific import of src/: AsyncLocalStorage (node:async_hooks), which Node,
// Deno and Bun all provide, is what carries the active span across `await`.
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';

let registered = false;

/**
 * Makes `context.with()` and `context.active()` follow async work. Idempotent: the API keeps
 * the first global it is given, and one manager serves every SDK set up in the process.
 */
export function registerContextManager(): void {
  if (registered) return;
  registered = context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
}
