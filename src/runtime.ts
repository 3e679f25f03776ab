/**
 * What an adapter tells the runtime-neutral core about the runtime it runs on. The core
 * never asks the runtime itself: adapters state it (`runtimes/*.ts`).
 */
export interface RuntimeInfo {
  /** Becomes `process.runtime.name` on the resource. */
  readonly name: 'node' | 'deno' | 'bun';
  /** Becomes `process.runtime.version`, e.g. `26.10.0`. */
  readonly version: string;
}

/** Where the core writes: telemetry to `stdout`, its own diagnostics to `stderr`. */
export interface Output {
  /** Writes one chunk of text followed by a newline. */
  stdout(text: string): void;
  stderr(text: string): void;
}

/** The default output: `console.log` and `console.error` exist on every runtime. */
export const consoleOutput: Output = {
  stdout: (text) => console.log(text),
  stderr: (text) => console.error(text),
};
