/**
 * The shared test surface: `test(name, fn)` and nothing else, so that one suite runs
 * unchanged on Node, Deno and Bun. Assertions come from `node:assert/strict`, which all
 * three runtimes provide. `tests/_runner.ts` imports the test files and runs what they
 * registered here.
 */

export type TestFn = () => void | Promise<void>;

export interface TestOptions {
  /** Fail the test when it runs longer than this. @default 20000 */
  timeoutMillis?: number;
  /** Skip the test and report this reason; never skip silently. */
  skip?: string | false;
}

export interface RegisteredTest {
  name: string;
  fn: TestFn;
  timeoutMillis: number;
  skip: string | false;
}

export const registeredTests: RegisteredTest[] = [];

/** Registers a test; names read as "symbol() does X". */
export function test(name: string, fn: TestFn, options: TestOptions = {}): void {
  registeredTests.push({
    name,
    fn,
    timeoutMillis: options.timeoutMillis ?? 20_000,
    skip: options.skip ?? false,
  });
}

/** What `tests/_runner.ts` prints per test, behind RESULT_PREFIX, for `tests/run.ts`. */
export interface TestResult {
  runtime: string;
  file: string;
  name: string;
  status: 'passed' | 'failed' | 'skipped';
  millis: number;
  error?: string;
}

export const RESULT_PREFIX = '##rolldice-test ';

/** The runtime this suite runs on; only tests ask, never `src/`. */
export const currentRuntime: 'node' | 'deno' | 'bun' = 'Deno' in globalThis
  ? 'deno'
  : 'Bun' in globalThis
  ? 'bun'
  : 'node';
