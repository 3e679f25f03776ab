/**
 * Each runtime's adapter, given a PORT or HOST it cannot listen on, says so in one line on
 * stderr that names the variable and the value, and exits 1 without a stack trace.
 */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { RUNTIMES } from '../_runtimes.ts';
import { runUntilExit, stopAllServices } from './_service.ts';

// Whatever a failing test left running.
afterEach(() => stopAllServices());

const PORT_FIX = 'expected a port number from 0 to 65535, e.g. PORT=8080';
const HOST_FIX = 'expected a host name or IP address to listen on, e.g. HOST=127.0.0.1, or unset for every interface';

const CASES: { env: Record<string, string>; line: string }[] = [
  { env: { PORT: 'abc' }, line: `PORT is "abc": ${PORT_FIX}` },
  { env: { PORT: '-1' }, line: `PORT is "-1": ${PORT_FIX}` },
  { env: { PORT: '70000' }, line: `PORT is "70000": ${PORT_FIX}` },
  { env: { HOST: 'a b' }, line: `HOST is "a b": ${HOST_FIX}` },
];

for (const runtime of RUNTIMES) {
  for (const { env, line } of CASES) {
    const [[name, value]] = Object.entries(env) as [[string, string]];
    test(
      `${runtime}: ${name}=${value} is one line on stderr naming it, and exit code 1`,
      { timeout: 30_000 },
      async () => {
        const { code, stdout, stderr } = await runUntilExit(runtime, { env });
        assert.equal(code, 1, stderr);
        assert.deepEqual(stderr.trimEnd().split('\n'), [`rolldice: cannot start: ${line}`]);
        assert.equal(stdout, '');
      },
    );
  }
}
