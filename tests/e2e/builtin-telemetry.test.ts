/**
 * Beside Deno's built-in OpenTelemetry, for every spelling of OTEL_DENO: unset and `1` (which
 * Deno does not accept, so its telemetry stays off) export through this library; `true` and
 * `TRUE` (Deno reads the value case-insensitively) are refused by the library's setup with one
 * line naming the variable, for the dice service (exit 1) and through registerOTel(), while
 * instrument() adds the route to Deno's own SERVER span instead of making a second one. Never
 * two exporters sending, never a silent loss. Runs under Node; spawns Deno.
 */
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import process from 'node:process';
import { type OtlpReceiver, startOtlpReceiver } from '../_otlp-receiver.ts';
import { RUNTIME_COMMANDS } from '../_runtimes.ts';
import { adapterCommand } from './_service.ts';

const OURS = /^rolldice-otel\//;
const SERVER = 2;
const CLIENT = 3;

function inheritedEnv(): Record<string, string> {
  return Object.fromEntries(
    Object.entries(process.env).filter((e): e is [string, string] => !e[0].startsWith('OTEL_') && e[1] !== undefined),
  );
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to its end, or kills it after `timeoutMillis`. */
function run(command: string, args: string[], env: Record<string, string>, timeoutMillis = 20_000): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: { ...inheritedEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${command} ${args.join(' ')} did not end in time; stderr:\n${stderr}`));
    }, timeoutMillis);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
  });
}

/** Our exporter's requests and Deno's, told apart by User-Agent. */
function exporters(receiver: OtlpReceiver) {
  const ours = receiver.requests.filter((r) => OURS.test(r.headers['user-agent'] ?? ''));
  const others = receiver.requests.filter((r) => !OURS.test(r.headers['user-agent'] ?? ''));
  return { ours, others };
}

const VALUES: { value: string | undefined; denoOn: boolean }[] = [
  { value: undefined, denoOn: false },
  { value: 'true', denoOn: true },
  { value: 'TRUE', denoOn: true },
  { value: '1', denoOn: false },
];

describe('OTEL_DENO', () => {
  for (const { value, denoOn } of VALUES) {
    const shown = value === undefined ? 'unset' : `OTEL_DENO=${value}`;

    test(`${shown}: the dice service ${denoOn ? 'refuses to start, in one line' : 'exports once, through this library'}`, async () => {
      const receiver = await startOtlpReceiver();
      try {
        const env: Record<string, string> = {
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
          OTEL_BSP_SCHEDULE_DELAY: '50',
          PORT: '0',
          HOST: '127.0.0.1',
          ...(value === undefined ? {} : { OTEL_DENO: value }),
        };
        const { command, args } = adapterCommand('deno');
        if (denoOn) {
          const result = await run(command, args, env);
          assert.equal(result.code, 1);
          const lines = result.stderr.split('\n').filter((line) => line.startsWith('rolldice:'));
          assert.equal(lines.length, 1, result.stderr);
          assert.match(lines[0]!, new RegExp(`^rolldice: cannot start: OTEL_DENO=${value} turns on Deno's built-in`));
          assert.match(lines[0]!, /unset OTEL_DENO/);
          assert.deepEqual(exporters(receiver).ours, [], 'this library exported nothing');
          return;
        }
        // Started as the e2e suite starts it, then asked for one roll and stopped.
        const { startService } = await import('./_service.ts');
        const service = await startService('deno', { env });
        const response = await fetch(`${service.url}/rolldice/Alice`);
        assert.equal(response.status, 200);
        await response.text();
        service.signal('SIGTERM');
        assert.equal(await service.exited, 0, service.stderr());
        const servers = receiver.spans().filter((s) => s.kind === SERVER);
        assert.equal(servers.length, 1, 'one SERVER span');
        assert.equal(servers[0].name, 'GET /rolldice/{player}');
        assert.equal(receiver.spans().filter((s) => s.name === 'roll').length, 1);
        assert.equal(receiver.logRecords().length, 1);
        assert.deepEqual(exporters(receiver).others, [], "Deno's exporter sent nothing");
      } finally {
        await receiver.close();
      }
    });

    test(`${shown}: a library user ${denoOn ? "is refused the SDK and keeps Deno's span, with the route" : 'exports once'}`, async () => {
      const receiver = await startOtlpReceiver();
      try {
        const { command, args } = RUNTIME_COMMANDS.deno;
        const result = await run(command, [...args, 'tests/e2e/fixtures/deno-library.ts'], {
          OTEL_EXPORTER_OTLP_ENDPOINT: receiver.url,
          OTEL_BSP_SCHEDULE_DELAY: '50',
          ...(value === undefined ? {} : { OTEL_DENO: value }),
        });
        assert.equal(result.code, 0, result.stderr);
        const outcome = JSON.parse(result.stdout.trim().split('\n').at(-1)!);
        assert.equal(outcome.status, 200);
        // Deno exports when the process ends.
        await receiver.waitFor((r) => r.spans().some((s) => s.kind === SERVER), 10_000);
        const servers = receiver.spans().filter((s) => s.kind === SERVER);
        assert.equal(servers.length, 1, 'one SERVER span, not two');
        const clients = receiver.spans().filter((s) => s.kind === CLIENT);
        assert.equal(clients.length, 1, 'one CLIENT span, not two');
        assert.equal(servers[0].parentSpanId, clients[0].spanId);
        assert.equal(servers[0].name, 'GET /rolldice/:player');
        assert.equal(servers[0].attributesObject['http.route'], '/rolldice/:player');
        const { ours, others } = exporters(receiver);
        if (denoOn) {
          assert.match(outcome.refused, new RegExp(`^OTEL_DENO=${value} turns on Deno's built-in OpenTelemetry`));
          assert.deepEqual(ours, [], 'this library exported nothing');
          assert.equal(servers[0].scope.name, 'deno', "Deno's own span");
        } else {
          assert.equal(outcome.refused, undefined);
          assert.deepEqual(others, [], "Deno's exporter sent nothing");
          assert.equal(servers[0].scope.name, '@rolldice/otel');
        }
      } finally {
        await receiver.close();
      }
    });
  }
});
