/**
 * Runs the test files named on the command line on the runtime that runs this file, one
 * test at a time, and prints one machine-readable line per test for `tests/run.ts`.
 * Usage: `<runtime> tests/_runner.ts tests/unit/a.test.ts ...`
 */
import process from 'node:process';
import { pathToFileURL } from 'node:url';
import { resolve } from 'node:path';
import { currentRuntime, registeredTests, RESULT_PREFIX, type TestResult as Result } from './_harness.ts';

function report(result: Result): void {
  process.stdout.write(RESULT_PREFIX + JSON.stringify(result) + '\n');
}

function describe(error: unknown): string {
  if (error instanceof Error) return error.stack ?? `${error.name}: ${error.message}`;
  return String(error);
}

async function runWithTimeout(fn: () => void | Promise<void>, timeoutMillis: number): Promise<void> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`Test timed out after ${timeoutMillis} ms`)), timeoutMillis);
  });
  try {
    await Promise.race([fn(), timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const files = process.argv.slice(2);
const grep = process.env.ROLLDICE_TEST_GREP ?? '';
for (const file of files) {
  const before = registeredTests.length;
  try {
    await import(pathToFileURL(resolve(file)).href);
  } catch (error) {
    report({ runtime: currentRuntime, file, name: '(import)', status: 'failed', millis: 0, error: describe(error) });
    continue;
  }
  for (const t of registeredTests.slice(before)) {
    if (grep && !t.name.includes(grep)) continue;
    if (t.skip) {
      report({ runtime: currentRuntime, file, name: t.name, status: 'skipped', millis: 0, error: t.skip });
      continue;
    }
    const started = performance.now();
    try {
      await runWithTimeout(t.fn, t.timeoutMillis);
      report({ runtime: currentRuntime, file, name: t.name, status: 'passed', millis: performance.now() - started });
    } catch (error) {
      report({
        runtime: currentRuntime,
        file,
        name: t.name,
        status: 'failed',
        millis: performance.now() - started,
        error: describe(error),
      });
    }
  }
}
// Tests may leave unref'd handles behind; the results are out, so end here.
process.exit(0);
