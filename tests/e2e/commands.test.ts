/** The commands the README tells users to type each serve the dice and print its telemetry. */
import assert from 'node:assert/strict';
import { afterEach, test } from 'node:test';
import { RUNTIME_COMMANDS, type RuntimeName } from '../_runtimes.ts';
import { collect, startService, stopAllServices } from './_service.ts';

// Whatever a failing test left running.
afterEach(() => stopAllServices());

const COMMANDS: { line: string; runtime: RuntimeName; command: { command: string; args: string[] } }[] = [
  { line: 'npm start', runtime: 'node', command: { command: 'npm', args: ['start', '--silent'] } },
  {
    line: 'deno task start',
    runtime: 'deno',
    command: { command: RUNTIME_COMMANDS.deno.command, args: ['task', 'start'] },
  },
  { line: 'bun run start', runtime: 'bun', command: { command: RUNTIME_COMMANDS.bun.command, args: ['run', 'start'] } },
];

for (const { line, runtime, command } of COMMANDS) {
  test(
    `\`${line}\` serves /rolldice/Alice on ${runtime} and prints its spans and log on SIGTERM`,
    { timeout: 30_000 },
    async () => {
      const service = await startService(runtime, { command, env: { OTEL_SERVICE_NAME: 'dice' } });
      const response = await fetch(`${service.url}/rolldice/Alice`);
      assert.equal(response.status, 200);
      assert.match(await response.text(), /^[1-6]\n$/);
      service.signal('SIGTERM');
      await service.exited;
      const printed = collect(service.stdout());
      assert.deepEqual(printed.spans.map((s) => s.name).sort(), ['GET /rolldice/{player}', 'roll']);
      assert.equal(printed.spans[0].resource['process.runtime.name'], runtime === 'node' ? 'nodejs' : runtime);
      assert.equal(printed.logs[0]?.bodyValue, 'Alice is rolling the dice');
      assert.ok(printed.metrics.some((m) => m.name === 'dice.rolls'));
    },
  );
}

// A container runtime or a supervisor signals the process it started, the wrapper, and nothing
// else: the wrapper must pass the signal on, so that the service still flushes and stops.
for (const { line, runtime, command } of COMMANDS) {
  for (const signal of ['SIGTERM', 'SIGINT'] as const) {
    test(
      `${signal} to \`${line}\` alone reaches the service, which flushes and stops`,
      { timeout: 30_000 },
      async () => {
        const service = await startService(runtime, { command, env: { OTEL_SERVICE_NAME: 'dice' } });
        assert.equal((await fetch(`${service.url}/rolldice/Alice`)).status, 200);
        service.signalProcess(signal);
        assert.equal(await service.exited, 0, service.stderr());
        assert.match(service.stderr(), new RegExp(`${signal} received`));
        assert.match(service.stderr(), /stopped after/);
        assert.deepEqual(collect(service.stdout()).spans.map((s) => s.name).sort(), ['GET /rolldice/{player}', 'roll']);
      },
    );
  }
}
