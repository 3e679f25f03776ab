/**
 * The whole cross-runtime matrix in one command (`npm test`): the unit suite on Node, Deno
 * and Bun, then the end-to-end suites, which start each runtime's adapter as a real process.
 * Ends with one line `N passed, N failed` and exits non-zero on any failure.
 *
 * The type checks (`tsc` for the core, Node and Bun adapters; `deno check` for the Deno
 * adapter with Deno's own types) count as tests too.
 *
 * Test files written with `node:test` run on each runtime's own runner (`node --test`,
 * `deno test`, `bun test`), counted from its summary; the fault suite (`tests/faults/`) runs on
 * Node and starts each runtime's service itself.
 *
 * Options: `--runtime=node,deno,bun` (unit suites to run), `--suite=check,unit,e2e,faults`,
 * `--grep=text` (only tests whose name contains text).
 */
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
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

/** Files that register their tests with `node:test` rather than tests/_harness.ts. */
function usesNodeTest(file: string): boolean {
  return /from 'node:test'/.test(readFileSync(file, 'utf8'));
}

/** Each runtime's own runner for `node:test` files, and how to read its summary. */
const NATIVE_RUNNERS: Record<RuntimeName, { args: (files: string[]) => string[]; count: (output: string) => Counts }> =
  {
    node: {
      args: (files) => ['--test', '--test-reporter=tap', '--test-concurrency=1', ...files],
      count: (output) => ({
        passed: lastNumber(output, /^# pass (\d+)$/gm),
        failed: lastNumber(output, /^# fail (\d+)$/gm) + lastNumber(output, /^# cancelled (\d+)$/gm),
        skipped: lastNumber(output, /^# skipped (\d+)$/gm),
      }),
    },
    deno: {
      args: (files) => ['test', '--allow-all', '--no-prompt', ...files],
      // "ok | 1 passed (13 steps) | 0 failed": describe() blocks count as one test with steps.
      count: (output) => {
        const plain = output.replace(new RegExp(`${String.fromCharCode(27)}\\[[0-9;]*m`, 'g'), '');
        const summary = /\| (\d+) passed(?: \((\d+) steps?\))? \| (\d+) failed(?: \((\d+) steps?\))?/.exec(plain);
        return {
          passed: Number(summary?.[2] ?? summary?.[1] ?? 0),
          failed: Number(summary?.[4] ?? summary?.[3] ?? 0),
          skipped: lastNumber(plain, /(\d+) ignored/g),
        };
      },
    },
    bun: {
      args: (files) => ['test', ...files.map((f) => `./${f}`)],
      count: (output) => ({
        passed: lastNumber(output, /^\s*(\d+) pass$/gm),
        failed: lastNumber(output, /^\s*(\d+) fail$/gm),
        skipped: lastNumber(output, /^\s*(\d+) skip$/gm),
      }),
    },
  };

interface Counts {
  passed: number;
  failed: number;
  skipped: number;
}

function lastNumber(text: string, pattern: RegExp): number {
  const matches = [...text.matchAll(pattern)];
  return matches.length === 0 ? 0 : Number(matches.at(-1)![1]);
}

/** Runs `node:test` files on `runtime`'s own runner, one file after another, and counts the results. */
async function runNativeSuite(label: string, runtime: RuntimeName, files: string[]): Promise<void> {
  const binary = runtime === 'node' ? process.execPath : RUNTIME_COMMANDS[runtime].command;
  const runner = NATIVE_RUNNERS[runtime];
  for (const file of files) {
    const started = performance.now();
    const grep = option('grep');
    const args = runtime === 'node' && grep ? [`--test-name-pattern=${grep}`] : [];
    const { output, code } = await new Promise<{ output: string; code: number | null }>((resolve) => {
      const child = spawn(binary, [...args, ...runner.args([file])], { stdio: ['ignore', 'pipe', 'pipe'] });
      let output = '';
      child.stdout.on('data', (chunk) => (output += chunk));
      child.stderr.on('data', (chunk) => (output += chunk));
      child.on('error', (error) => (output += `Cannot start ${binary}: ${error.message}\n`));
      child.on('close', (code) => resolve({ output, code }));
    });
    const counts = runner.count(output);
    const broken = code !== 0 && counts.failed === 0;
    passed += counts.passed;
    failed += counts.failed + (broken || counts.passed + counts.failed === 0 ? 1 : 0);
    skipped += counts.skipped;
    const ok = counts.failed === 0 && !broken && counts.passed > 0;
    const millis = Math.round(performance.now() - started);
    console.log(
      `${ok ? 'ok  ' : 'FAIL'} ${label.padEnd(9)} ${
        file.replace(/^tests\//, '')
      } › ${counts.passed} passed, ${counts.failed} failed${
        counts.skipped ? `, ${counts.skipped} skipped` : ''
      } (${millis} ms)`,
    );
    if (!ok) console.log(`---- output of ${file} on ${runtime} ----\n${output.trimEnd()}\n----`);
  }
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
const suites = (option('suite') ?? 'check,unit,e2e,faults').split(',');

const unitFiles = testFiles('tests/unit');
const unitSuites: Suite[] = suites.includes('unit')
  ? runtimes.map((runtime) => ({ label: `${runtime}`, runtime, files: unitFiles.filter((f) => !usesNodeTest(f)) }))
  : [];
const nativeUnitFiles = unitFiles.filter(usesNodeTest);
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
  [RUNTIME_COMMANDS.deno.command, 'check', 'mod.ts', 'runtimes/deno.ts'],
];

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
if (suites.includes('unit')) {
  for (const runtime of runtimes) {
    await runNativeSuite(runtime, runtime, nativeUnitFiles);
  }
}
await run(e2eSuites);
// The fault suite drives each runtime's service from Node, like e2e, and takes its time: last.
if (suites.includes('faults')) await runNativeSuite('faults', 'node', testFiles('tests/faults'));

const seconds = ((performance.now() - started) / 1000).toFixed(1);
console.log(`\nmatrix: ${runtimes.join(', ')}; ${seconds} s`);
console.log(`${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed === 0 ? 0 : 1);
