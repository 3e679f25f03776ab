import assert from 'node:assert/strict';
import { test } from 'node:test';
import { checkBoundary, findViolations } from '../../check-boundary.ts';

const found = (source: string) => findViolations('src/x.ts', source).map((v) => `${v.line}: ${v.what}`);

test('findViolations() reports runtime globals used, sniffed or reached through the global object', () => {
  const source = [
    "export const port = Deno.env.get('PORT');",
    'export const env = process.env;',
    'export const isBun = typeof Bun !== "undefined";',
    "export const sniffed = 'Deno' in globalThis;",
    'export const cast = (globalThis as Record<string, unknown>).Bun;',
    "export const indexed = globalThis['process'];",
    'export const template = `${Deno.pid}`;',
  ].join('\n');
  assert.deepEqual(found(source), [
    '1: uses Deno',
    '2: uses process',
    '3: uses Bun',
    '4: looks for the global Deno',
    '5: uses Bun',
    '6: looks for the global process',
    '7: uses Deno',
  ]);
});

test('findViolations() reports imports of anything but relative modules and @opentelemetry/*', () => {
  const source = [
    "import { Buffer } from 'node:buffer';",
    "import fs from 'fs';",
    "export { serve } from 'bun';",
    "const lazy = await import('node:http');",
    "import { trace } from '@opentelemetry/api';",
    "import { parseConfig } from '../config.ts';",
    "export * from './url.ts';",
  ].join('\n');
  assert.deepEqual(found(source), [
    '1: imports "node:buffer"',
    '2: imports "fs"',
    '3: imports "bun"',
    '4: imports "node:http"',
  ]);
});

test('findViolations() leaves prose, strings, regular expressions and other objects’ process alone', () => {
  const source = [
    '// Deno.serve and Bun.serve call it; process.env is read by the adapters.',
    '/* node:http too */',
    "const key = 'process.runtime.name';",
    'const text = `runs on Deno and Bun`;',
    "const pattern = /Deno|'Bun/;",
    'const ratio = a / b / c;',
    'const job = options.process;',
    'const entry = { process: 1 };',
  ].join('\n');
  assert.deepEqual(found(source), []);
});

test('checkBoundary() finds nothing in src/ outside the declared exception', () => {
  assert.deepEqual(checkBoundary('src'), []);
});
