/**
 * Builds the OpenTelemetry Collector of `tools/otelcol/` and fetches the Zipkin server, both at
 * pinned versions, into a cache folder outside the repository, and prints one line per component:
 *
 *   node tools/prepare-real-components.ts
 *
 * The cache is `$ROLLDICE_CACHE`, else `$XDG_CACHE_HOME/rolldice`, else `~/.cache/rolldice`.
 * Each entry is named by a hash of what went into it (the Collector's go.mod, go.sum and
 * main.go and the Go toolchain; Zipkin's version and checksum), so a warm cache is reused at
 * once and a change builds anew. The tests under `tests/real/` and `tools/demo.ts` call
 * `prepareCollector()` and `prepareZipkin()` themselves.
 *
 * Needs Go (the version go.mod names or newer) for the Collector, and Java 17+ and Maven for
 * Zipkin (Maven only while the jar is not cached yet).
 */
import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import {
  createReadStream,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import process from 'node:process';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const OTELCOL_DIR = join(dirname(fileURLToPath(import.meta.url)), 'otelcol');

/** The Zipkin server's executable jar on Maven Central; the checksum guards the cached copy. */
export const ZIPKIN = {
  group: 'io.zipkin',
  artifact: 'zipkin-server',
  version: '3.6.1',
  classifier: 'exec',
  sha256: 'd8326e0ed4f43855dba81228f688554706e52578a7c782d9a90b73f8680654a1',
} as const;

/** Pinned, so that a fetch does not depend on which plugin version Maven would pick today. */
const DEPENDENCY_PLUGIN = 'org.apache.maven.plugins:maven-dependency-plugin:3.8.1';

/** The Collector's build inputs: a change to any of them makes a new cache entry. */
const COLLECTOR_INPUTS = ['go.mod', 'go.sum', 'main.go'];
const COLLECTOR_BINARY = 'otelcol-rolldice';

export interface PreparedComponent {
  name: 'collector' | 'zipkin';
  version: string;
  /** The Collector's binary, or Zipkin's jar. */
  path: string;
  /** True when the cache already had it. */
  reused: boolean;
  seconds: number;
}

export function cacheRoot(): string {
  if (process.env.ROLLDICE_CACHE) return process.env.ROLLDICE_CACHE;
  return join(process.env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'rolldice');
}

/** The collector release every module in go.mod is pinned to, read from go.mod itself. */
export function collectorRelease(): string {
  const goMod = readFileSync(join(OTELCOL_DIR, 'go.mod'), 'utf8');
  return /go\.opentelemetry\.io\/collector\/otelcol (v\S+)/.exec(goMod)?.[1] ?? 'unknown';
}

function run(
  command: string,
  args: string[],
  options: { cwd?: string } = {},
): { ok: boolean; output: string; missing: boolean } {
  const result = spawnSync(command, args, { cwd: options.cwd, encoding: 'utf8' });
  const missing = (result.error as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
  return { ok: result.status === 0, output: `${result.stdout ?? ''}${result.stderr ?? ''}`, missing };
}

/** Why the Collector cannot be built here, or undefined when it can. */
export function collectorUnavailable(): string | undefined {
  const go = run('go', ['env', 'GOVERSION']);
  if (go.missing) return 'Go is not installed (the `go` command is not on PATH); the real Collector is built with it';
  if (!go.ok) return `\`go env GOVERSION\` failed: ${go.output.trim()}`;
  return undefined;
}

/** Why Zipkin cannot run here, or undefined when it can. */
export function zipkinUnavailable(): string | undefined {
  const java = run('java', ['-version']);
  if (java.missing) return 'Java is not installed (the `java` command is not on PATH); Zipkin needs Java 17 or newer';
  const major = Number(/version "(?:1\.)?(\d+)/.exec(java.output)?.[1] ?? 0);
  if (major < 17) {
    return `Zipkin ${ZIPKIN.version} needs Java 17 or newer; \`java -version\` says: ${java.output.split('\n')[0]}`;
  }
  if (!existsSync(zipkinJarPath()) && run('mvn', ['-v']).missing) {
    return 'Maven is not installed (the `mvn` command is not on PATH); it fetches the Zipkin server from Maven Central';
  }
  return undefined;
}

function hashOf(parts: (string | Buffer)[]): string {
  const hash = createHash('sha256');
  for (const part of parts) hash.update(createHash('sha256').update(part).digest());
  return hash.digest('hex').slice(0, 16);
}

function collectorKey(): string {
  const go = run('go', ['env', 'GOVERSION', 'GOOS', 'GOARCH']).output.trim();
  return hashOf([go, ...COLLECTOR_INPUTS.flatMap((file) => [file, readFileSync(join(OTELCOL_DIR, file))])]);
}

export function collectorBinaryPath(): string {
  return join(cacheRoot(), `otelcol-${collectorKey()}`, COLLECTOR_BINARY);
}

export function zipkinJarPath(): string {
  const key = hashOf([ZIPKIN.version, ZIPKIN.sha256]);
  return join(
    cacheRoot(),
    `zipkin-${ZIPKIN.version}-${key}`,
    `${ZIPKIN.artifact}-${ZIPKIN.version}-${ZIPKIN.classifier}.jar`,
  );
}

/** Runs a command with its output shown on stderr only if it fails (it is long and rarely useful). */
function runQuietly(command: string, args: string[], cwd: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    child.stdout.on('data', (chunk) => (output += chunk));
    child.stderr.on('data', (chunk) => (output += chunk));
    child.on('error', reject);
    child.on('close', (code) => {
      if (code === 0) resolve();
      else reject(new Error(`${command} ${args.join(' ')} exited with ${code}:\n${output.trim()}`));
    });
  });
}

/**
 * Runs `make` unless `target` exists, holding a lock folder so that two processes (test files
 * run in parallel) build it once; a lock whose owner has died is taken over.
 */
async function once(target: string, make: () => Promise<void>): Promise<boolean> {
  if (existsSync(target)) return true;
  const lock = `${dirname(target)}.lock`;
  mkdirSync(dirname(lock), { recursive: true });
  const deadline = Date.now() + 30 * 60_000;
  for (;;) {
    try {
      mkdirSync(lock);
      break;
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
    }
    if (!lockOwnerAlive(lock)) {
      rmSync(lock, { recursive: true, force: true });
      continue;
    }
    if (Date.now() > deadline) throw new Error(`Still locked after 30 min: ${lock}`);
    await new Promise((resolve) => setTimeout(resolve, 250));
    if (existsSync(target)) return true;
  }
  try {
    writeFileSync(join(lock, 'pid'), String(process.pid));
    if (existsSync(target)) return true;
    await make();
    return false;
  } finally {
    rmSync(lock, { recursive: true, force: true });
  }
}

function lockOwnerAlive(lock: string): boolean {
  let pid = NaN;
  try {
    pid = Number(readFileSync(join(lock, 'pid'), 'utf8'));
  } catch {
    // no pid file yet: handled below
  }
  if (!Number.isInteger(pid) || pid <= 0) {
    // Just made, its pid not written yet: give the owner a moment before calling it dead.
    try {
      return Date.now() - statSync(lock).mtimeMs < 10_000;
    } catch {
      return false;
    }
  }
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Entries not used for this long are removed; younger ones may belong to another checkout. */
const UNUSED_FOR_MILLIS = 14 * 24 * 3600_000;

/**
 * Marks `entry` as used now and removes the entries named `prefix*` that no build or run has
 * used for two weeks (another worktree with other inputs keeps its own entry meanwhile).
 */
function touchAndPrune(entry: string, prefix: string): void {
  const now = new Date();
  utimesSync(entry, now, now);
  const root = cacheRoot();
  for (const name of readdirSync(root)) {
    const path = join(root, name);
    if (!name.startsWith(prefix) || path === entry || name.endsWith('.lock')) continue;
    try {
      if (now.getTime() - statSync(path).mtimeMs > UNUSED_FOR_MILLIS) rmSync(path, { recursive: true, force: true });
    } catch {
      // removed meanwhile by another process
    }
  }
}

export async function prepareCollector(): Promise<PreparedComponent> {
  const started = performance.now();
  const binary = collectorBinaryPath();
  const dir = dirname(binary);
  const reused = await once(binary, async () => {
    process.stderr.write(
      `collector: building ${COLLECTOR_BINARY} ${collectorRelease()} with Go (1 to 3 minutes on a cold module cache)\n`,
    );
    const staging = `${dir}.tmp-${process.pid}`;
    rmSync(staging, { recursive: true, force: true });
    mkdirSync(staging, { recursive: true });
    try {
      // -trimpath and no symbol tables: a smaller binary that is the same on every machine.
      await runQuietly(
        'go',
        ['build', '-trimpath', '-ldflags=-s -w', '-o', join(staging, COLLECTOR_BINARY), '.'],
        OTELCOL_DIR,
      );
      rmSync(dir, { recursive: true, force: true });
      renameSync(staging, dir);
    } finally {
      rmSync(staging, { recursive: true, force: true });
    }
  });
  touchAndPrune(dir, 'otelcol-');
  return {
    name: 'collector',
    version: collectorRelease(),
    path: binary,
    reused,
    seconds: (performance.now() - started) / 1000,
  };
}

function sha256Of(path: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const hash = createHash('sha256');
    createReadStream(path).on('data', (chunk) => hash.update(chunk)).on('error', reject).on(
      'end',
      () => resolve(hash.digest('hex')),
    );
  });
}

export async function prepareZipkin(): Promise<PreparedComponent> {
  const started = performance.now();
  const jar = zipkinJarPath();
  const dir = dirname(jar);
  const reused = await once(jar, async () => {
    process.stderr.write(`zipkin: fetching ${ZIPKIN.artifact} ${ZIPKIN.version} (135 MB) from Maven Central\n`);
    const staging = `${dir}.tmp-${process.pid}`;
    // Maven's own repository for this cache, so that one `rm -r` of the cache removes everything.
    const repository = join(cacheRoot(), 'maven');
    rmSync(staging, { recursive: true, force: true });
    try {
      await runQuietly('mvn', [
        '--batch-mode',
        '--quiet',
        '--strict-checksums',
        `-Dmaven.repo.local=${repository}`,
        `${DEPENDENCY_PLUGIN}:copy`,
        `-Dartifact=${ZIPKIN.group}:${ZIPKIN.artifact}:${ZIPKIN.version}:jar:${ZIPKIN.classifier}`,
        `-DoutputDirectory=${staging}`,
      ], cacheRoot());
      const fetched = join(staging, `${ZIPKIN.artifact}-${ZIPKIN.version}-${ZIPKIN.classifier}.jar`);
      const sha256 = await sha256Of(fetched);
      if (sha256 !== ZIPKIN.sha256) throw new Error(`${fetched}: SHA-256 ${sha256}, expected ${ZIPKIN.sha256}`);
      rmSync(dir, { recursive: true, force: true });
      renameSync(staging, dir);
    } finally {
      rmSync(staging, { recursive: true, force: true });
      // The jar is kept once, in the entry above, not a second time in Maven's repository.
      rmSync(join(repository, ...ZIPKIN.group.split('.'), ZIPKIN.artifact), { recursive: true, force: true });
    }
  });
  touchAndPrune(dir, 'zipkin-');
  return { name: 'zipkin', version: ZIPKIN.version, path: jar, reused, seconds: (performance.now() - started) / 1000 };
}

/** One line per component, as the command prints it. */
export function describeComponent(component: PreparedComponent): string {
  const what = component.name === 'collector'
    ? `${COLLECTOR_BINARY} ${component.version}`
    : `${ZIPKIN.artifact} ${component.version}`;
  const how = component.reused ? 'reused' : component.name === 'collector' ? 'built' : 'fetched';
  return `${component.name.padEnd(9)} ${what.padEnd(34)} ${how} in ${
    component.seconds.toFixed(1)
  } s: ${component.path}`;
}

// Run as a command: both at once (the fetch overlaps the build), then one line each, in order;
// a missing tool or a failure is one line and exit code 1.
if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  const tasks = ([[collectorUnavailable, prepareCollector], [zipkinUnavailable, prepareZipkin]] as const).map(
    ([unavailable, prepare]) => {
      const reason = unavailable();
      return reason ? Promise.reject(new Error(reason)) : prepare();
    },
  );
  let failed = false;
  for (const outcome of await Promise.allSettled(tasks)) {
    if (outcome.status === 'fulfilled') {
      console.log(describeComponent(outcome.value));
    } else {
      console.log((outcome.reason as Error).message);
      failed = true;
    }
  }
  process.exitCode = failed ? 1 : 0;
}
