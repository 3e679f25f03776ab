/** Starts a runtime's adapter as a real process and reads back what it printed. */
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import process from 'node:process';
import { RUNTIME_COMMANDS, type RuntimeName } from '../_runtimes.ts';

/** The command each runtime's users type, minus the wrappers (`npm`, `deno task`, `bun run`). */
export function adapterCommand(runtime: RuntimeName): { command: string; args: string[] } {
  const { command } = RUNTIME_COMMANDS[runtime];
  if (runtime === 'node') {
    // The same V8 flags as `npm start` (`node FLAGS runtimes/start.js`), read from package.json.
    const start: string[] = JSON.parse(readFileSync('package.json', 'utf8')).scripts.start.trim().split(/\s+/);
    return { command, args: [...start.slice(1, -1), 'dist/node.js'] };
  }
  if (runtime === 'bun') return { command, args: ['runtimes/bun.ts'] };
  // The same permission flags as `deno task start`, read from deno.json so they cannot drift.
  const task: string = JSON.parse(readFileSync('deno.json', 'utf8')).tasks.start.command;
  return { command, args: task.slice(task.indexOf(' run ') + 1).split(/\s+/) };
}

export interface RunningService {
  runtime: RuntimeName;
  url: string;
  child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves with the exit code (or the signal's name) once the process has ended. */
  exited: Promise<number | string>;
  signal(name: NodeJS.Signals): void;
}

export interface StartOptions {
  env?: Record<string, string>;
  /** Run this command line instead of the adapter, e.g. the `npm start` wrapper. */
  command?: { command: string; args: string[] };
  timeoutMillis?: number;
}

/** Spawns the adapter on a free port (PORT=0) and resolves once it says it is listening. */
export function startService(runtime: RuntimeName, options: StartOptions = {}): Promise<RunningService> {
  const { command, args } = options.command ?? adapterCommand(runtime);
  // The outer environment's OTEL_* must not leak into what a test asserts.
  const inherited = Object.fromEntries(Object.entries(process.env).filter(([name]) => !name.startsWith('OTEL_')));
  const child = spawn(command, args, {
    env: { ...inherited, PORT: '0', HOST: '127.0.0.1', ...options.env },
    stdio: ['ignore', 'pipe', 'pipe'],
    // Its own process group, so a signal reaches the service behind any wrapper.
    detached: true,
  });
  let stdout = '';
  let stderr = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
  const exited = new Promise<number | string>((resolve) =>
    // 'close', not 'exit': by then everything the process printed has been read.
    child.on('close', (code, signal) => resolve(code ?? signal ?? 'unknown'))
  );

  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      stop();
      reject(new Error(`${runtime} did not start within ${options.timeoutMillis ?? 15_000} ms; stderr:\n${stderr}`));
    }, options.timeoutMillis ?? 15_000);
    const stop = () => {
      clearTimeout(timer);
      child.stderr!.off('data', onData);
    };
    const onData = () => {
      const match = /listening on http:\/\/[^:]+:(\d+)/.exec(stderr);
      if (!match) return;
      stop();
      resolve({
        runtime,
        url: `http://127.0.0.1:${match[1]}`,
        child,
        stdout: () => stdout,
        stderr: () => stderr,
        exited,
        signal: (name) => {
          try {
            process.kill(-child.pid!, name);
          } catch {
            // already gone
          }
        },
      });
    };
    child.stderr!.on('data', onData);
    exited.then((code) => {
      stop();
      reject(new Error(`${runtime} exited with ${code} before listening; stderr:\n${stderr}`));
    });
  });
}

/** Splits the console exporters' output (indented JSON documents, one after another). */
export function parseDocuments(stdout: string): any[] {
  const documents: any[] = [];
  let current: string[] = [];
  for (const line of stdout.split('\n')) {
    if (current.length === 0 && line !== '{') continue; // not telemetry
    current.push(line);
    if (line === '}') {
      documents.push(JSON.parse(current.join('\n')));
      current = [];
    }
  }
  return documents;
}

/** Converts an OTLP/JSON AnyValue to a plain value. */
export function plain(value: any): unknown {
  if (value === undefined || value === null) return undefined;
  if ('stringValue' in value) return value.stringValue;
  if ('intValue' in value) return Number(value.intValue);
  if ('doubleValue' in value) return value.doubleValue;
  if ('boolValue' in value) return value.boolValue;
  if ('arrayValue' in value) return (value.arrayValue.values ?? []).map(plain);
  if ('kvlistValue' in value) return attributesOf(value.kvlistValue.values);
  return undefined;
}

export function attributesOf(list: any[] | undefined): Record<string, unknown> {
  return Object.fromEntries((list ?? []).map((kv: any) => [kv.key, plain(kv.value)]));
}

export interface Printed {
  spans: any[];
  logs: any[];
  metrics: any[];
}

/** Flattens the printed OTLP/JSON documents; each item gains `resource`, `scope` and `attrs`. */
export function collect(stdout: string): Printed {
  const printed: Printed = { spans: [], logs: [], metrics: [] };
  for (const doc of parseDocuments(stdout)) {
    for (const rs of doc.resourceSpans ?? []) {
      for (const ss of rs.scopeSpans ?? []) {
        for (const span of ss.spans ?? []) {
          printed.spans.push({
            ...span,
            resource: attributesOf(rs.resource?.attributes),
            scope: ss.scope,
            attrs: attributesOf(span.attributes),
          });
        }
      }
    }
    for (const rl of doc.resourceLogs ?? []) {
      for (const sl of rl.scopeLogs ?? []) {
        for (const log of sl.logRecords ?? []) {
          printed.logs.push({
            ...log,
            resource: attributesOf(rl.resource?.attributes),
            scope: sl.scope,
            attrs: attributesOf(log.attributes),
          });
        }
      }
    }
    for (const rm of doc.resourceMetrics ?? []) {
      for (const sm of rm.scopeMetrics ?? []) {
        for (const metric of sm.metrics ?? []) {
          printed.metrics.push({ ...metric, resource: attributesOf(rm.resource?.attributes), scope: sm.scope });
        }
      }
    }
  }
  return printed;
}
