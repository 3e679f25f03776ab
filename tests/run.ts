/**
 * The whole cross-runtime matrix in one command (`npm test`): the unit suite on Node, Deno
 * and Bun, then the end-to-end suites, which start each runtime's adapter as a real process.
 * Ends with one line `N passed, N failed` and exits non-zero on any failure.
 *
 * The type checks (`tsc` for the core, Node and Bun adapters; `deno check` for the Deno
 * adapter with Deno's own types) count as tests too.
 *
 * Options: `--runtime=node,deno,bun` (unit suites to run), `--suite=check,unit,e2e`,
 * `--grep=text` (only tests whose name contains text).
 */
import { spawn } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import process from 'node:process';
import { RESULT_PREFIX, type TestResult as Result } from './_harness.ts';
import { RUNTIME_COMMANDS, type RuntimeName } from './_runtimes.ts';

interface Suite {
  label: string;
  runtime: RuntimeName;
  files: string[];
}

function option(name: string): string | undefined {
  const prefix = `--${name}=`;
  return process.argv.find((arg) => arg.startsWith(prefix))?.slice(prefix.length);
}

function testFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith('.test.ts'))
    .sort()
    .map((f) => join(dir, f));
}

function runSuite(suite: Suite): Promise<{ results: Result[]; output: string; code: number | null }> {
  const { command, args } = RUNTIME_COMMANDS[suite.runtime];
  return new Promise((resolve) => {
    const child = spawn(command, [...args, 'tests/_runner.ts', ...suite.files], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, ROLLDICE_TEST_GREP: option('grep') ?? '' },
    });
    const results: Result[] = [];
    let output = '';
    let pending = '';
    child.stdout.setEncoding('utf8');
    child.stdout.on('data', (chunk: string) => {
      pending += chunk;
      let newline;
      while ((newline = pending.indexOf('\n')) >= 0) {
        const line = pending.slice(0, newline);
        pending = pending.slice(newline + 1);
        if (line.startsWith(RESULT_PREFIX)) {
          const result = JSON.parse(line.slice(RESULT_PREFIX.length)) as Result;
          results.push(result);
          printResult(suite, result);
        } else {
          output += line + '\n';
        }
      }
    });
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => (output += chunk));
    child.on('error', (error) => {
      output += `Cannot start ${command}: ${error.message}\n`;
    });
    child.on('close', (code) => resolve({ results, output, code }));
  });
}

function printResult(suite: Suite, r: Result): void {
  const mark = r.status === 'passed' ? 'ok  ' : r.status === 'skipped' ? 'skip' : 'FAIL';
  const where = `${suite.label.padEnd(9)} ${r.file.replace(/^tests\//, '')}`;
  const extra = r.status === 'skipped' ? ` (skipped: ${r.error})` : ` (${Math.round(r.millis)} ms)`;
  console.log(`${mark} ${where} › ${r.name}${extra}`);
  if (r.status === 'failed' && r.error) console.log(r.error.replace(/^/gm, '       '));
}

const runtimes = (option('runtime') ?? 'node,deno,bun').split(',') as RuntimeName[];
const suites = (option('suite') ?? 'check,unit,e2e').split(',');

const unitSuites: Suite[] = suites.includes('unit')
  ? runtimes.map((runtime) => ({ label: `${runtime}`, runtime, files: testFiles('tests/unit') }))
  : [];
const e2eSuites: Suite[] = suites.includes('e2e')
  ? [{ label: 'e2e', runtime: 'node', files: testFiles('tests/e2e') }]
  : [];

let passed = 0;
let failed = 0;
let skipped = 0;
const started = performance.now();

async function run(batch: Suite[]): Promise<void> {
  const outcomes = await Promise.all(batch.map(async (suite) => ({ suite, ...(await runSuite(suite)) })));
  for (const { suite, results, output, code } of outcomes) {
    for (const r of results) {
      if (r.status === 'passed') passed++;
      else if (r.status === 'failed') failed++;
      else skipped++;
    }
    const suiteFailed = results.some((r) => r.status === 'failed');
    if (code !== 0 || results.length === 0) {
      failed++;
      console.log(
        `FAIL ${suite.label.padEnd(9)} the suite process exited with code ${code} after ${results.length} tests`,
      );
    }
    if ((code !== 0 || suiteFailed || results.length === 0) && output.trim()) {
      console.log(`---- output of the ${suite.label} suite ----\n${output.trimEnd()}\n----`);
    }
  }
}

const TYPE_CHECKS = [
  ['node_modules/.bin/tsc', '-p', 'tsconfig.json'],
  ['node_modules/.bin/tsc', '-p', 'tsconfig.bun.json'],
  [RUNTIME_COMMANDS.deno.command, 'check', 'mod.ts', 'hono.ts', 'runtimes/deno.ts', 'examples/deno/'],
];

/**
 * Test files written with node:test, run by each runtime's own runner: tests/lib on Node, Deno
 * and Bun; tests/spawn and tests/examples, which start the runtimes as processes, on Node.
 */
interface NodeTestSuite {
  label: string;
  command: string;
  args: string[];
}

function nodeTestSuites(phase: 'unit' | 'e2e'): NodeTestSuite[] {
  if (phase === 'e2e') {
    const files = [...testFiles('tests/spawn'), ...testFiles('tests/examples')];
    return [{ label: 'e2e', command: process.execPath, args: ['--test', '--test-concurrency=1', ...files] }];
  }
  const lib = testFiles('tests/lib');
  return runtimes.map((runtime) =>
    runtime === 'node'
      ? { label: 'node', command: process.execPath, args: ['--test', ...lib] }
      : runtime === 'deno'
      ? { label: 'deno', command: RUNTIME_COMMANDS.deno.command, args: ['test', '-A', ...lib] }
      : { label: 'bun', command: RUNTIME_COMMANDS.bun.command, args: ['test', ...lib] }
  );
}

/** Runs one node:test suite and counts what its runner reports as passed and failed. */
function runNodeTests(suite: NodeTestSuite): Promise<void> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(suite.command, suite.args, {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, NO_COLOR: '1', FORCE_COLOR: '0' },
    });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', (error) => (output += error.message));
    child.on('close', (code) => {
      // node --test: "ℹ pass 3" / "ℹ fail 0"; deno test: "3 passed (12 steps) | 0 failed"; bun test: " 3 pass" / " 0 fail".
      const count = (pattern: RegExp) => Number(pattern.exec(output)?.[1] ?? 0);
      const ok = count(/ℹ pass (\d+)/) || count(/passed \((\d+) steps?\)/) || count(/(\d+) passed/) ||
        count(/^\s*(\d+) pass$/m);
      const bad = count(/ℹ fail (\d+)/) || count(/\| (\d+) failed/) || count(/^\s*(\d+) fail$/m);
      passed += ok;
      failed += bad;
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      const where = `${suite.label.padEnd(9)} node:test ${
        suite.args.filter((a) => a.startsWith('tests/')).length
      } files`;
      console.log(`${code === 0 ? 'ok  ' : 'FAIL'} ${where} › ${ok} passed, ${bad} failed (${seconds} s)`);
      if (code !== 0) {
        if (bad === 0) failed++;
        console.log(`---- output of the ${suite.label} node:test suite ----\n${output.trimEnd()}\n----`);
      }
      resolve();
    });
  });
}

function typeCheck(command: string[]): Promise<void> {
  return new Promise((resolve) => {
    const started = performance.now();
    const child = spawn(command[0]!, command.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', (error) => (output += error.message));
    child.on('close', (code) => {
      const name = `${command[0]!.split('/').pop()} ${command.slice(1).join(' ')}`;
      const result: Result = {
        runtime: 'check',
        file: 'type-check',
        name,
        status: code === 0 ? 'passed' : 'failed',
        millis: performance.now() - started,
        error: code === 0 ? undefined : output,
      };
      if (code === 0) passed++;
      else failed++;
      printResult({ label: 'check', runtime: 'node', files: [] }, result);
      resolve();
    });
  });
}

if (suites.includes('check')) await Promise.all(TYPE_CHECKS.map(typeCheck));
await run(unitSuites);
if (suites.includes('unit')) await Promise.all(nodeTestSuites('unit').map(runNodeTests));
await run(e2eSuites);
if (suites.includes('e2e')) await Promise.all(nodeTestSuites('e2e').map(runNodeTests));

const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.log(`\nmatrix: ${runtimes.join(', ')}; ${seconds} s`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed === 0 ? 0 : 1);
