/**
 * The runtime this code runs on, and its environment. The second named exception to the rule
 * that `src/` uses no runtime API (the first is `sdk/context.ts`): `registerOTel()` reads the
 * `OTEL_*` variables and names the runtime by itself, as `@vercel/otel` and Deno's built-in
 * telemetry do, behind the one entry point every runtime imports. Everything here is a
 * property read on `globalThis`, guarded, so it also loads where none of the three exists.
 */
import { registeredGlobal } from './sdk/globals.ts';

/** What the core knows about the runtime: detected by `detectRuntime()`, or stated by an adapter. */
export interface RuntimeInfo {
  /** The executable: `node`, `deno` or `bun`; `process.runtime.name` is `nodejs` for `node`. */
  readonly name: 'node' | 'deno' | 'bun';
  /** Becomes `process.runtime.version`, e.g. `26.10.0`. */
  readonly version: string;
  /** Becomes `process.runtime.description`. @default `Node.js`, `Deno` or `Bun` */
  readonly description?: string;
  /**
   * Its fetch sends a one-chunk stream body with its `Content-Length` and without copying it,
   * where it copies a byte body twice (Node's). OTLP bodies then go as streams. @default false
   */
  readonly streamRequestBodies?: boolean;
}

/** Where console exporters print (`stdout`), and where diagnostics go (`stderr`): `setupTelemetry({ output })`. */
export interface Output {
  /** Writes one chunk of text followed by a newline. */
  stdout(text: string): void;
  /** Writes one line of diagnostics, followed by a newline. */
  stderr(text: string): void;
}

/** `console.log` and `console.error`, which exist on every runtime. */
export const consoleOutput: Output = {
  stdout: (text) => console.log(text),
  stderr: (text) => console.error(text),
};

/** An environment to read configuration from, e.g. `process.env`. */
export type Env = Readonly<Record<string, string | undefined>>;

interface DenoGlobal {
  version?: { deno?: string };
  env?: { get(name: string): string | undefined };
  permissions?: { querySync?(descriptor: { name: 'env'; variable: string }): { state: string } };
  telemetry?: { tracerProvider?: unknown };
}

interface RuntimeGlobals {
  Deno?: DenoGlobal;
  Bun?: { version?: string };
  process?: { versions?: { node?: string }; env?: Env };
}

const globals = globalThis as RuntimeGlobals;

/**
 * Node.js, Deno or Bun, with its version; undefined elsewhere (a browser, a Worker). It becomes
 * `process.runtime.*` on the resource.
 *
 * @example
 * ```ts
 * import { detectRuntime } from '@rolldice/otel';
 *
 * const runtime = detectRuntime(); // on Deno: { name: 'deno', version: Deno.version.deno, description: 'Deno' }
 * ```
 */
export function detectRuntime(): RuntimeInfo | undefined {
  // Deno and Bun both provide `process` too, so they are asked first.
  const deno = globals.Deno?.version?.deno;
  if (deno) return { name: 'deno', version: deno, description: 'Deno' };
  const bun = globals.Bun?.version;
  if (bun) return { name: 'bun', version: bun, description: 'Bun' };
  const node = globals.process?.versions?.node;
  if (node) return { name: 'node', version: node, description: 'Node.js', streamRequestBodies: true };
  return undefined;
}

/**
 * The runtime's environment: `process.env` on Node and Bun; on Deno, each variable read on
 * demand, and only where `--allow-env` grants it, so that reading never prompts or throws
 * (`denied` is told each variable it could not read). Empty elsewhere.
 *
 * @example
 * ```ts
 * import { parseConfig, runtimeEnv } from '@rolldice/otel';
 *
 * const config = parseConfig(runtimeEnv((name) => console.warn(`${name} is not readable`)), console.warn);
 * ```
 */
export function runtimeEnv(denied?: (name: string) => void): Env {
  const deno = globals.Deno;
  if (deno?.env) {
    const env = deno.env;
    return new Proxy({}, {
      get(_, name) {
        if (typeof name !== 'string') return undefined;
        if (deno.permissions?.querySync?.({ name: 'env', variable: name }).state !== 'granted') {
          denied?.(name);
          return undefined;
        }
        return env.get(name);
      },
    });
  }
  return globals.process?.env ?? {};
}

/**
 * The variable that turned the runtime's own OpenTelemetry on, as `NAME=value`, when the
 * runtime has registered the API's globals itself: Deno under `OTEL_DENO=true` (any case),
 * Bun under `BUN_OTEL`. Undefined when the runtime's telemetry is off.
 */
export function runtimeTelemetryVariable(): string | undefined {
  if (denoTracesRequests()) return `OTEL_DENO=${readVariable('OTEL_DENO') ?? 'true'}`;
  if (globals.Bun !== undefined && registeredGlobal('trace') !== undefined) {
    const value = readVariable('BUN_OTEL');
    if (value) return `BUN_OTEL=${value}`;
  }
  return undefined;
}

/**
 * Whether Deno's built-in OpenTelemetry is on: then `Deno.serve` makes a SERVER span for each
 * request (active in the handler) and `fetch` a CLIENT span for each call, and its tracer
 * provider is the API's global one.
 */
export function denoTracesRequests(): boolean {
  const provider = globals.Deno?.telemetry?.tracerProvider;
  return provider !== undefined && registeredGlobal('trace') === provider;
}

function readVariable(name: string): string | undefined {
  return runtimeEnv()[name]?.trim() || undefined;
}
