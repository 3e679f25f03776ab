/**
 * Checks the API documentation of every entry point in deno.json's `exports`, as JSR shows it:
 * `deno doc --lint` (every export documented, no private type in a public signature) and
 * `deno check --doc-only` over the local modules the entry points load (every `@example`
 * type-checks). Prints each tool's errors, then one line of counts; exits 1 on any error.
 *
 * Usage: `node tools/check-docs.ts` (`npm run check:docs`), from the repository root.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { pathToFileURL } from 'node:url';

const root = process.cwd();
const deno = join(root, 'node_modules', '.bin', 'deno');
const denoJson = JSON.parse(readFileSync(join(root, 'deno.json'), 'utf8'));
const entryPoints: string[] = Object.values(denoJson.exports as Record<string, string>);

function run(args: string[]): { status: number; output: string } {
  const result = spawnSync(deno, args, { cwd: root, encoding: 'utf8', env: { ...process.env, NO_COLOR: '1' } });
  if (result.error) throw new Error(`Cannot run ${deno}: ${result.error.message}; run npm ci first`);
  return { status: result.status ?? 1, output: `${result.stdout}${result.stderr}` };
}

/** The repository's own modules that the entry points load: where the exports' JSDoc lives. */
function localModules(): string[] {
  const rootUrl = pathToFileURL(root + '/').href;
  const files = new Set<string>();
  for (const entry of entryPoints) {
    const { status, output } = run(['info', '--json', entry]);
    if (status !== 0) throw new Error(`deno info ${entry} failed:\n${output}`);
    for (const { specifier } of JSON.parse(output).modules as { specifier: string }[]) {
      if (specifier.startsWith(rootUrl) && !specifier.includes('/node_modules/')) {
        files.add(specifier.slice(rootUrl.length));
      }
    }
  }
  return [...files].sort();
}

/** The names a module imports from packages (bare specifiers), under their own names: `A` of `A as B`. */
function packageImports(file: string): Set<string> {
  const names = new Set<string>();
  for (
    const [, list, specifier] of readFileSync(file, 'utf8').matchAll(
      /import\s+(?:type\s+)?\{([^}]*)\}\s*from\s*'([^']+)'/g,
    )
  ) {
    if (specifier!.startsWith('.') || specifier!.startsWith('/')) continue;
    for (const item of list!.split(',')) {
      const name = item.trim().replace(/^type\s+/, '').split(/\s+as\s+/)[0];
      if (name) names.add(name);
    }
  }
  return names;
}

/**
 * A dependency's type in a public signature (OpenTelemetry's `TracerProvider`, Hono's
 * `MiddlewareHandler`) is documented by that package, not re-exported with everything it
 * references: Deno skips these for jsr: and https: modules (denoland/deno#27364), but npm
 * modules resolve to files and are still reported. Such a report is known by the referencing
 * module importing the type from a package.
 */
function isDependencyTypeRef(diagnostic: string): boolean {
  const type = /^error\[private-type-ref\]: .* references private type '([^']+)'/.exec(diagnostic)?.[1];
  const file = /\n\s*--> (.+?):\d+:\d+/.exec(diagnostic)?.[1];
  return type !== undefined && file !== undefined && packageImports(file).has(type);
}

const lint = run(['doc', '--lint', ...entryPoints]);
const diagnostics = `\n${lint.output.replace(/\nStack backtrace:[\s\S]*$/, '')}`.split(/\n(?=error\[)/)
  .filter((text) => text.startsWith('error['))
  .map((text) => text.replace(/\nerror: Found \d+ documentation lint errors?\.[\s\S]*$/, '').trimEnd());
const dependencyRefs = diagnostics.filter(isDependencyTypeRef).length;
const lintErrors = lint.status === 0 ? 0 : Math.max(diagnostics.length - dependencyRefs, diagnostics.length ? 0 : 1);
if (lintErrors) {
  console.log(diagnostics.length ? diagnostics.filter((d) => !isDependencyTypeRef(d)).join('\n\n') : lint.output);
}

const modules = localModules();
const check = run(['check', '--doc-only', ...modules]);
const checkErrors = check.status === 0 ? 0 : Number(/Found (\d+) errors?\./.exec(check.output)?.[1] ?? 1);
// Each example is checked as a module of its own, named after the lines it spans: `file.ts#12-18.ts`.
const failingExamples = new Set(check.output.match(/file:\/\/\S+?\.ts#\d+-\d+\.ts/g) ?? []).size;
if (checkErrors) console.log(check.output.replace(/\nStack backtrace:[\s\S]*$/, '').trimEnd());

console.log(
  `docs: ${lintErrors} \`deno doc --lint\` errors in ${entryPoints.join(', ')} ` +
    `(${dependencyRefs} references to dependencies' types not counted); ` +
    `${checkErrors} type errors in ${failingExamples} examples (\`deno check --doc-only\`, ${modules.length} modules)`,
);
process.exit(lintErrors || checkErrors ? 1 : 0);
