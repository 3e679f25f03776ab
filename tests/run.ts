/**
 * The whole matrix in one command (`npm test`): the checks (types per runtime and without
 * Node's globals, format, lint, the `src/` boundary), the unit suite (tests/unit/) on Node, Deno
 * and Bun, each with its own test runner (`node --test`, `deno test`, `bun test`), then the
 * end-to-end tests (tests/e2e/, on Node), which start each runtime's adapter as a process.
 * Every check counts as a test. Ends with one line `N passed, N failed[, N skipped]` and exits
 * non-zero on any failure; a failure's details are printed where it is reported.
 *
 * Then the fault suite (tests/faults/: each runtime's service against a failing collector and
 * misbehaving clients), the packed tarball in a throwaway app on each runtime (tests/consumer/) and the real
 * OpenTelemetry Collector and Zipkin (tests/real/, built or reused by `npm run prepare:real`).
 *
 * Options: `--runtime=node,deno,bun` (the unit suites to run), `--suite=check,unit,e2e,faults,consumer,real`,
 * `--grep=text` (only the tests and checks whose name contains text).
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import process from 'node:process';
import { bin, type RuntimeName } from './_runtimes.ts';

interface Result {
  /** The file the test is in, relative to tests/, or what a check runs. */
  file: string;
  name: string;
  status: 'passed' | 'failed' | 'skipped';
  millis: number;
  /** Why it failed, or the reason given for a skip. */
  detail?: string;
}

interface Run {
  code: number | null;
  /** stdout and stderr, interleaved as they came. */
  output: string;
  millis: number;
}

function option(name: string): string | undefined {
  const prefix = `--${name}=`;
  return process.argv.find((arg) => arg.startsWith(prefix))?.slice(prefix.length);
}

const grep = option('grep') ?? '';
const runtimes = (option('runtime') ?? 'node,deno,bun').split(',') as RuntimeName[];
const suites = (option('suite') ?? 'check,unit,e2e,faults,consumer,real').split(',');
const scratch = mkdtempSync(join(tmpdir(), 'rolldice-test-'));

function run(command: string, args: string[], env: Record<string, string> = {}): Promise<Run> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(command, args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      // Plain text: the output is shown only when something failed.
      env: { ...process.env, NO_COLOR: '1', ...env },
    });
    let output = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
    child.on('error', (error) => (output += `Cannot start ${command}: ${error.message}\n`));
    child.on('close', (code) => resolve({ code, output, millis: performance.now() - started }));
  });
}

// JUnit XML, the one machine-readable report all three runners write, read without a library.

interface XmlElement {
  name: string;
  attributes: Record<string, string>;
  children: XmlElement[];
  text: string;
}

function decodeEntities(text: string): string {
  return text.replace(/&(#x[0-9a-fA-F]+|#\d+|lt|gt|amp|quot|apos);/g, (_, entity: string) => {
    if (entity.startsWith('#x')) return String.fromCodePoint(parseInt(entity.slice(2), 16));
    if (entity.startsWith('#')) return String.fromCodePoint(Number(entity.slice(1)));
    return ({ lt: '<', gt: '>', amp: '&', quot: '"', apos: "'" } as Record<string, string>)[entity]!;
  });
}

function parseXml(xml: string): XmlElement {
  const root: XmlElement = { name: '#document', attributes: {}, children: [], text: '' };
  const stack = [root];
  const token =
    /<!--[\s\S]*?-->|<\?[\s\S]*?\?>|<!\[CDATA\[([\s\S]*?)\]\]>|<\/([^\s>]+)\s*>|<([^\s/>!?]+)((?:\s+[^\s=/>]+\s*=\s*(?:"[^"]*"|'[^']*'))*)\s*(\/?)>|([^<]+)/g;
  for (const [, cdata, close, open, attrs, selfClosing, text] of xml.matchAll(token)) {
    const top = stack.at(-1)!;
    if (cdata !== undefined) top.text += cdata;
    else if (text !== undefined) top.text += decodeEntities(text);
    else if (close !== undefined && stack.length > 1) stack.pop();
    else if (open !== undefined) {
      const attributes: Record<string, string> = {};
      for (const [, key, double, single] of (attrs ?? '').matchAll(/([^\s=]+)\s*=\s*(?:"([^"]*)"|'([^']*)')/g)) {
        attributes[key!] = decodeEntities(double ?? single ?? '');
      }
      const element: XmlElement = { name: open, attributes, children: [], text: '' };
      top.children.push(element);
      if (!selfClosing) stack.push(element);
    }
  }
  return root;
}

/** The test cases of a JUnit report, each with the nearest file its report names. */
function testCases(element: XmlElement, file = ''): { testcase: XmlElement; file: string }[] {
  const here = element.attributes.file ?? (element.name === 'testsuite' ? element.attributes.name : undefined) ?? file;
  if (element.name === 'testcase') return [{ testcase: element, file: element.attributes.file ?? here }];
  return element.children.flatMap((child) => testCases(child, here));
}

function readJunit(path: string): Result[] {
  const cases = testCases(parseXml(readFileSync(path, 'utf8')));
  const names = new Set(cases.map((c) => c.testcase.attributes.name ?? ''));
  return cases
    // Deno reports a test with steps (a `describe`) as a case of its own beside its steps,
    // named "parent > step"; only the leaves count, as Node and Bun count them.
    .filter(({ testcase }) => ![...names].some((other) => other.startsWith(`${testcase.attributes.name} > `)))
    .map(({ testcase, file }) => {
      const failure = testcase.children.find((c) => c.name === 'failure' || c.name === 'error');
      const skipped = testcase.children.find((c) => c.name === 'skipped');
      const where = file.replace(/^\.\//, '').replace(/^file:\/\//, '');
      return {
        file: (where.startsWith('/') ? relative(process.cwd(), where) : where).replace(/^tests\//, ''),
        name: testcase.attributes.name ?? '(unnamed)',
        status: failure ? 'failed' : skipped ? 'skipped' : 'passed',
        millis: Number(testcase.attributes.time ?? 0) * 1000,
        // The text holds the message too, with the stack and the assertion's diff.
        detail: failure ? failure.text.trim() || failure.attributes.message : skipped?.attributes.message,
      };
    });
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// What each runner is told: a JUnit report to a file, the name filter, and which tests to run.
// Node runs the unit files in one process, as Bun does (and as fast); Deno, whose every file
// loads the SDK afresh, runs two at a time. Deno and Bun find the unit suite through deno.json
// (`test.include`, `test.permissions`) and bunfig.toml (`[test]`).
const UNIT_RUNNERS: Record<RuntimeName, (junit: string) => { command: string; args: string[] }> = {
  node: (junit) => ({
    command: process.execPath,
    args: [
      '--test',
      '--test-isolation=none',
      '--test-timeout=20000',
      '--test-reporter=junit',
      `--test-reporter-destination=${junit}`,
      ...(grep ? [`--test-name-pattern=${escapeRegExp(grep)}`] : []),
      'tests/unit/',
    ],
  }),
  deno: (junit) => ({
    command: bin('deno'),
    args: ['test', '-P', '--parallel', '--no-prompt', `--junit-path=${junit}`, ...(grep ? [`--filter=${grep}`] : [])],
  }),
  bun: (junit) => ({
    command: bin('bun'),
    args: [
      'test',
      // bunfig.toml's [test] timeout is not applied by bun 1.4.5: the flag is.
      '--timeout=20000',
      '--reporter=junit',
      `--reporter-outfile=${junit}`,
      ...(grep ? [`--test-name-pattern=${escapeRegExp(grep)}`] : []),
    ],
  }),
};

// The suites run by Node's runner, one after another, each a folder of tests/.
const NODE_SUITES = ['e2e', 'faults', 'consumer', 'real'] as const;

const nodeRunner = (folder: string) => (junit: string) => ({
  command: process.execPath,
  args: [
    '--test',
    // One file at a time: each starts processes of all three runtimes, and the machine is shared.
    '--test-concurrency=1',
    // Done when its tests are: fetch's idle keep-alive connections would hold each file's process for seconds.
    '--test-force-exit',
    '--test-reporter=junit',
    `--test-reporter-destination=${junit}`,
    ...(grep ? [`--test-name-pattern=${escapeRegExp(grep)}`] : []),
    `tests/${folder}/`,
  ],
});

const CHECKS: { name: string; command: string; args: string[] }[] = [
  { name: 'tsc -p tsconfig.json', command: bin('tsc'), args: ['-p', 'tsconfig.json'] },
  { name: 'tsc -p tsconfig.bun.json', command: bin('tsc'), args: ['-p', 'tsconfig.bun.json'] },
  {
    name: "tsc -p tsconfig.core.json (src/ and mod.ts without Node's globals)",
    command: bin('tsc'),
    args: ['-p', 'tsconfig.core.json'],
  },
  {
    name: 'deno check mod.ts hono.ts runtimes/deno.ts examples/deno/',
    command: bin('deno'),
    args: ['check', 'mod.ts', 'hono.ts', 'runtimes/deno.ts', 'examples/deno/'],
  },
  { name: 'deno fmt --check', command: bin('deno'), args: ['fmt', '--check'] },
  { name: 'deno lint', command: bin('deno'), args: ['lint'] },
  {
    name: 'src/ uses web standards and @opentelemetry/* only (tests/check-boundary.ts)',
    command: process.execPath,
    args: ['tests/check-boundary.ts'],
  },
  { name: 'JSR: deno publish --dry-run, no slow types', command: 'npm', args: ['run', '--silent', 'check:jsr'] },
  { name: 'npm: npm pack --dry-run and publint', command: 'npm', args: ['run', '--silent', 'check:npm'] },
  { name: 'API docs: deno doc --lint, deno check --doc-only', command: 'npm', args: ['run', '--silent', 'check:docs'] },
];

let passed = 0;
let failed = 0;
let skipped = 0;
const failures: string[] = [];

function report(label: string, r: Result): void {
  const mark = r.status === 'passed' ? 'ok  ' : r.status === 'skipped' ? 'skip' : 'FAIL';
  const extra = r.status === 'skipped'
    ? ` (skipped${r.detail && r.detail !== 'true' ? `: ${r.detail}` : ''})`
    : ` (${Math.round(r.millis)} ms)`;
  const line = `${mark} ${label.padEnd(9)} ${r.file ? `${r.file} › ` : ''}${r.name}`;
  console.log(line + extra);
  if (r.status === 'passed') passed++;
  else if (r.status === 'skipped') skipped++;
  else {
    failed++;
    failures.push(line);
    if (r.detail) console.log(r.detail.replace(/^/gm, '       '));
  }
}

async function check(c: (typeof CHECKS)[number]): Promise<void> {
  const { code, output, millis } = await run(c.command, c.args);
  report('check', {
    file: '',
    name: c.name,
    status: code === 0 ? 'passed' : 'failed',
    millis,
    detail: code === 0 ? undefined : output.trimEnd() || `exited with code ${code}`,
  });
}

/** Runs one test runner, then reports its tests and, if it failed without a failing test, itself. */
async function runSuite(label: string, runner: { command: string; args: string[] }, junit: string): Promise<void> {
  const shown = [runner.command.split('/').pop(), ...runner.args].join(' ').replaceAll(scratch, '$TMPDIR');
  console.log(`run  ${label.padEnd(9)} ${shown}`);
  const { code, output } = await run(runner.command, runner.args);
  let results: Result[] = [];
  let unreadable = '';
  if (existsSync(junit)) {
    try {
      results = readJunit(junit);
    } catch (error) {
      unreadable = `its JUnit report ${junit} cannot be read: ${(error as Error).message}`;
    }
  } else {
    unreadable = 'it wrote no JUnit report';
  }
  // Bun reports the tests its name filter left out as skipped: those are not this run's.
  if (grep) results = results.filter((r) => r.name.includes(grep) || r.status === 'failed');
  for (const r of results) report(label, r);
  const anyFailed = results.some((r) => r.status === 'failed');
  if ((code !== 0 && !anyFailed) || unreadable || (results.length === 0 && !grep)) {
    report(label, {
      file: `${runner.command.split('/').pop()} ${runner.args[0]}`,
      name: `the ${label} runner exited with code ${code} after ${results.length} tests${
        unreadable ? `; ${unreadable}` : ''
      }`,
      status: 'failed',
      millis: 0,
      detail: output.trimEnd(),
    });
  }
}

const started = performance.now();
try {
  if (suites.includes('check')) {
    // Two at a time: the machine is shared.
    const queue = CHECKS.filter((c) => c.name.includes(grep));
    await Promise.all([0, 1].map(async () => {
      for (let c = queue.shift(); c; c = queue.shift()) await check(c);
    }));
  }
  if (suites.includes('unit')) {
    await Promise.all(runtimes.map((runtime) => {
      const junit = join(scratch, `unit-${runtime}.xml`);
      return runSuite(runtime, UNIT_RUNNERS[runtime](junit), junit);
    }));
  }
  for (const suite of NODE_SUITES.filter((name) => suites.includes(name))) {
    const junit = join(scratch, `${suite}.xml`);
    await runSuite(suite, nodeRunner(suite)(junit), junit);
  }
} finally {
  rmSync(scratch, { recursive: true, force: true });
}

const seconds = ((performance.now() - started) / 1000).toFixed(1);
if (failures.length > 0) console.log(`\nFailed:\n${failures.join('\n')}`);
console.log(`\nmatrix: ${runtimes.join(', ')}; ${seconds} s`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed === 0 ? 0 : 1);
