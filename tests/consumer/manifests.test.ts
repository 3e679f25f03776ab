/**
 * The two manifests describe one package: package.json (npm) and deno.json (JSR) agree on its
 * name, version, entry points and dependencies, with src/version.ts; `engines` says what the
 * OpenTelemetry dependencies need; install scripts run only for the reviewed, pinned packages.
 *
 * Run from the repository root: `node --test tests/consumer/`.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { describe, it } from 'node:test';
import * as versionModule from '../../src/version.ts';

const root = process.cwd();
const readJson = (...path: string[]) => JSON.parse(readFileSync(join(root, ...path), 'utf8'));
const pkg = readJson('package.json');
const deno = readJson('deno.json');

describe('package.json and deno.json', () => {
  it('name the same package and the same version as src/version.ts', () => {
    assert.equal(deno.name, pkg.name, 'deno.json name');
    assert.equal(deno.version, pkg.version, 'deno.json version');
    assert.equal(versionModule.VERSION, pkg.version, 'VERSION in src/version.ts');
    // A name constant there, if any, names the package too.
    for (const [name, value] of Object.entries(versionModule)) {
      if (/NAME/.test(name)) assert.equal(value, pkg.name, `${name} in src/version.ts`);
    }
  });

  it('export the same entry points, npm the build of what JSR serves as source', () => {
    const npmExports = pkg.exports as Record<string, { types: string; default: string }>;
    const jsrExports = deno.exports as Record<string, string>;
    assert.deepEqual(Object.keys(npmExports).sort(), Object.keys(jsrExports).sort());
    for (const [entry, source] of Object.entries(jsrExports)) {
      const built = source.replace(/^\.\//, './dist/lib/').replace(/\.ts$/, '');
      assert.deepEqual(npmExports[entry], { types: `${built}.d.ts`, default: `${built}.js` }, `exports["${entry}"]`);
    }
  });

  it('declare the same dependencies with the same ranges', () => {
    const npmDependencies = { ...pkg.dependencies, ...pkg.peerDependencies };
    const jsrDependencies = Object.fromEntries(
      Object.entries(deno.imports as Record<string, string>)
        .filter(([, target]) => target.startsWith('npm:'))
        .map(([name, target]) => [name, target.slice(`npm:${name}@`.length)]),
    );
    assert.deepEqual(jsrDependencies, npmDependencies);
  });

  it('have the same license, and the LICENSE file is that license', () => {
    assert.equal(pkg.license, 'Apache-2.0');
    assert.equal(deno.license, pkg.license);
    assert.match(readFileSync(join(root, 'LICENSE'), 'utf8'), /Apache License\s+Version 2\.0, January 2004/);
  });
});

describe('package.json', () => {
  it('engines.node is the newest floor that the installed OpenTelemetry packages declare', () => {
    const floors = readdirSync(join(root, 'node_modules', '@opentelemetry')).flatMap((name) => {
      const engines = readJson('node_modules', '@opentelemetry', name, 'package.json').engines?.node ?? '';
      const floor = /^>=\s*(\d+)\.(\d+)\.(\d+)$/.exec(engines.trim());
      return floor ? [floor.slice(1).map(Number)] : [];
    });
    const newest = floors.sort((a, b) => a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]!).at(-1)!;
    assert.equal(pkg.engines.node, `>=${newest.join('.')}`);
  });

  it('lets install scripts run only for bun, deno and esbuild, each pinned to the version reviewed', () => {
    const lock = readJson('package-lock.json');
    const withScripts = Object.entries(lock.packages as Record<string, { hasInstallScript?: boolean }>)
      .filter(([path, entry]) => path && entry.hasInstallScript)
      .map(([path]) => path.slice(path.lastIndexOf('node_modules/') + 'node_modules/'.length))
      .sort();
    // Name-only entries: npm matches `name@version` entries only against a lockfile with
    // `resolved` URLs, which this project's lockfile does not carry; the exact pins below fix
    // the versions instead.
    assert.deepEqual(pkg.allowScripts, Object.fromEntries(withScripts.map((name) => [name, true])));
    assert.deepEqual([...pkg.trustedDependencies].sort(), withScripts);
    for (const name of withScripts) assert.match(pkg.devDependencies[name] ?? '', /^\d+\.\d+\.\d+$/, name);
    assert.match(readFileSync(join(root, '.npmrc'), 'utf8'), /^strict-allow-scripts=true$/m);
  });

  it('keeps the service-only packages out of the library dependencies', () => {
    for (const name of ['hono', '@hono/node-server']) {
      assert.equal(pkg.dependencies[name], undefined, `${name} in dependencies`);
    }
    assert.equal(pkg.peerDependenciesMeta?.hono?.optional, true);
    assert.equal(pkg.private, undefined);
  });
});
