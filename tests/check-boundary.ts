/**
 * Fails when `src/` reaches past web standards: a module other than a relative one or
 * `@opentelemetry/*` (so no `node:*`, no bare Node builtin, no `bun:*`), or the runtime globals
 * `process`, `Deno` and `Bun`, used or sniffed (`'Deno' in globalThis`). The one declared
 * exceptions are the context manager, whose AsyncLocalStorage every runtime provides, and
 * src/runtime.ts, which detects the runtime and reads its environment for registerOTel().
 * Comments and the contents of strings are not code, so prose may name any runtime.
 *
 * Usage: `node tests/check-boundary.ts [dir]` (default `src`); prints one line per use, exits 1
 * if there is any.
 */
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';

/** The one module that may import Hono, an optional peer: the `./hono` entry point's middleware. */
const HONO_MIDDLEWARE = 'src/hono.ts';

/** Files allowed to use their runtime, each with the reason. */
export const BOUNDARY_EXCEPTIONS: Record<string, string> = {
  'src/sdk/context.ts': 'AsyncLocalStorage (node:async_hooks), which Node, Deno and Bun all provide',
  'src/runtime.ts': 'guarded reads of globalThis that name the runtime and read OTEL_* for registerOTel()',
};

const RUNTIME_GLOBALS = ['process', 'Deno', 'Bun'];

interface StringToken {
  value: string;
  start: number;
  end: number;
}

/**
 * Splits TypeScript source into code and string literals: `code` is the source with comments
 * and the contents of strings, templates and regular expressions blanked (offsets and line
 * breaks kept); `strings` holds each plain string literal with its place.
 */
export function scan(source: string): { code: string; strings: StringToken[] } {
  const out = source.split('');
  const strings: StringToken[] = [];
  const blank = (from: number, to: number) => {
    for (let k = from; k < to; k++) if (out[k] !== '\n') out[k] = ' ';
  };
  /** The last significant code character before `i`, and the word it ends, for telling a regex from a division. */
  const before = (i: number): { char: string; word: string } => {
    let k = i - 1;
    while (k >= 0 && /\s/.test(out[k]!)) k--;
    let w = k;
    while (w >= 0 && /[\w$]/.test(out[w]!)) w--;
    return { char: k >= 0 ? out[k]! : '', word: out.slice(w + 1, k + 1).join('') };
  };
  const REGEX_AFTER_WORD = new Set([
    'return',
    'typeof',
    'case',
    'do',
    'else',
    'in',
    'of',
    'new',
    'delete',
    'void',
    'throw',
    'yield',
    'await',
  ]);

  // Returns where the code ends: at the end, or at the `}` closing a template's `${`.
  const code = (start: number, inTemplate: boolean): number => {
    let depth = 0;
    let i = start;
    while (i < source.length) {
      const c = source[i]!;
      const next = source[i + 1];
      if (c === '/' && next === '/') {
        const end = source.indexOf('\n', i);
        const stop = end < 0 ? source.length : end;
        blank(i, stop);
        i = stop;
      } else if (c === '/' && next === '*') {
        const end = source.indexOf('*/', i + 2);
        const stop = end < 0 ? source.length : end + 2;
        blank(i, stop);
        i = stop;
      } else if (c === '"' || c === "'") {
        let k = i + 1;
        while (k < source.length && source[k] !== c && source[k] !== '\n') k += source[k] === '\\' ? 2 : 1;
        strings.push({ value: source.slice(i + 1, k), start: i, end: k + 1 });
        blank(i + 1, k);
        i = k + 1;
      } else if (c === '`') {
        i = template(i + 1);
      } else if (c === '/') {
        const { char, word } = before(i);
        const isRegex = char === '' || '(,=:[!&|?{};+-*%<>~^'.includes(char) ||
          (word !== '' && REGEX_AFTER_WORD.has(word) && /[a-z]/.test(char));
        if (!isRegex) {
          i++;
          continue;
        }
        let k = i + 1;
        let inClass = false;
        while (k < source.length && source[k] !== '\n') {
          if (source[k] === '\\') k++;
          else if (source[k] === '[') inClass = true;
          else if (source[k] === ']') inClass = false;
          else if (source[k] === '/' && !inClass) break;
          k++;
        }
        blank(i + 1, k);
        i = k + 1;
      } else if (inTemplate && c === '{') {
        depth++;
        i++;
      } else if (inTemplate && c === '}') {
        if (depth === 0) return i;
        depth--;
        i++;
      } else {
        i++;
      }
    }
    return i;
  };
  // Returns the index after the closing backtick; `${ … }` parts are code.
  const template = (start: number): number => {
    let i = start;
    let textStart = start;
    while (i < source.length) {
      const c = source[i]!;
      if (c === '\\') {
        i += 2;
      } else if (c === '`') {
        blank(textStart, i);
        return i + 1;
      } else if (c === '$' && source[i + 1] === '{') {
        blank(textStart, i);
        i = code(i + 2, true) + 1;
        textStart = i;
      } else {
        i++;
      }
    }
    blank(textStart, i);
    return i;
  };
  code(0, false);
  return { code: out.join(''), strings };
}

export interface Violation {
  file: string;
  line: number;
  what: string;
}

/** What in one file's source crosses the boundary. */
export function findViolations(file: string, source: string): Violation[] {
  const { code, strings } = scan(source);
  const lineOf = (offset: number) => source.slice(0, offset).split('\n').length;
  const found: Violation[] = [];
  for (const s of strings) {
    const lead = code.slice(Math.max(0, s.start - 40), s.start);
    const isSpecifier = /(?:\bfrom|\bimport|\bimport\s*\(|\brequire\s*\()\s*$/.test(lead) ||
      /\bexport\s*\*\s*from\s*$/.test(lead);
    const allowed = s.value.startsWith('./') || s.value.startsWith('../') || s.value.startsWith('@opentelemetry/') ||
      (file === HONO_MIDDLEWARE && (s.value === 'hono' || s.value.startsWith('hono/')));
    if (isSpecifier && !allowed) {
      found.push({ file, line: lineOf(s.start), what: `imports "${s.value}"` });
    }
    if (RUNTIME_GLOBALS.includes(s.value) && (/^\s*in\b/.test(code.slice(s.end)) || /\[\s*$/.test(lead))) {
      found.push({ file, line: lineOf(s.start), what: `looks for the global ${s.value}` });
    }
  }
  // A global's name as code. Only `process` may name a property or key of something else
  // (`options.process`, `{ process: … }`); one of the global object, or of a cast of it, is the global.
  const name = new RegExp(`(?<![\\w$])(${RUNTIME_GLOBALS.join('|')})(?![\\w$])`, 'g');
  for (const match of code.matchAll(name)) {
    const lead = code.slice(Math.max(0, match.index - 20), match.index);
    const ofObject = /[\w$\]]\s*\??\.\s*$/.test(lead) && !/\b(?:globalThis|self|window)\s*\??\.\s*$/.test(lead);
    const key = /[{,]\s*$/.test(lead) && /^\s*\??:/.test(code.slice(match.index + match[0].length));
    if (match[1] === 'process' && (ofObject || key)) continue;
    found.push({ file, line: lineOf(match.index), what: `uses ${match[1]}` });
  }
  return found.sort((a, b) => a.line - b.line);
}

function tsFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return tsFiles(path);
    return /\.[cm]?[jt]sx?$/.test(entry.name) ? [path] : [];
  });
}

/** Every use across the boundary in the files under `dir`, the declared exceptions left out. */
export function checkBoundary(dir = 'src'): Violation[] {
  return tsFiles(dir)
    .map((path) => relative(process.cwd(), path).split('\\').join('/'))
    .filter((file) => !(file in BOUNDARY_EXCEPTIONS))
    .sort()
    .flatMap((file) => findViolations(file, readFileSync(file, 'utf8')));
}

// Run as a script (not imported by a test): `node tests/check-boundary.ts`.
if (process.argv[1] !== undefined && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const violations = checkBoundary(process.argv[2] ?? 'src');
  for (const v of violations) {
    const exceptions = Object.keys(BOUNDARY_EXCEPTIONS).join(', ');
    console.error(`${v.file}:${v.line}: ${v.what}: only web standards and @opentelemetry/* (or in ${exceptions})`);
  }
  if (violations.length === 0) console.log('src/ uses web standards and @opentelemetry/* only');
  process.exit(violations.length === 0 ? 0 : 1);
}
