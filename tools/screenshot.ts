/**
 * Takes the README's picture of one trace across Node, Deno and Bun in Zipkin's web UI, with a
 * real browser, and fails when the page shows no such trace:
 *
 *   node tools/screenshot.ts [--out=docs/img/trace.png]
 *
 * Runs `tools/demo.ts` on free ports, loads the trace page printed there in headless Chromium,
 * checks the rendered DOM for the three services and the span names, then saves a screenshot.
 * Installs nothing: it needs Debian's Chromium (`apt-get install -y chromium`) besides what the
 * demo needs (Go, Java 17+, Maven).
 */
import { spawn, spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import process from 'node:process';
import { fileURLToPath } from 'node:url';
import { freePort } from './real-components.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = resolve(
  ROOT,
  process.argv.find((arg) => arg.startsWith('--out='))?.slice('--out='.length) ?? 'docs/img/trace.png',
);

/** What the trace page must show once Zipkin's UI has rendered it (Zipkin keeps names in lower case). */
const EXPECTED = [
  'Services 3 Total Spans 8',
  ...['node', 'deno', 'bun'].flatMap((runtime) => [`dice-${runtime}: get /rolldice/{player}`, `dice-${runtime}: roll`]),
  'dice-node: get ', // the CLIENT spans, named by their method
  'dice-deno: get ',
];

/** The page's text as a person reads it: tags dropped, white space collapsed. */
function textOf(html: string): string {
  return html.replace(/<script[\s\S]*?<\/script>|<style[\s\S]*?<\/style>/g, ' ').replace(/<[^>]+>/g, ' ').replace(
    /\s+/g,
    ' ',
  );
}

function findChromium(): string {
  for (const name of ['chromium', 'chromium-browser', 'google-chrome']) {
    if (!spawnSync(name, ['--version']).error) return name;
  }
  throw new Error('Chromium is not installed: `apt-get install -y chromium` (Debian) provides it');
}

/** Starts the demo and resolves with the trace link it prints, and a way to stop it. */
async function startDemo(): Promise<{ traceUrl: string; stop(): Promise<void> }> {
  const args = ['tools/demo.ts', `--zipkin-port=${await freePort()}`, `--otlp-port=${await freePort()}`];
  const demo = spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] });
  const exited = new Promise<number | null>((done) => demo.on('close', done));
  const stop = async () => {
    demo.kill('SIGINT');
    await exited;
  };
  let output = '';
  return new Promise((resolveDemo, reject) => {
    // Bounded: a cold cache builds the Collector first (minutes), then the demo takes seconds.
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`the demo printed no trace link within 10 min:\n${output}`));
    }, 10 * 60_000);
    const onData = (chunk: Buffer) => {
      output += chunk;
      const match = /^One trace: (\S+)$/m.exec(output);
      if (!match) return;
      demo.stdout.off('data', onData);
      demo.stderr.off('data', onData);
      clearTimeout(timer);
      process.stdout.write(output);
      resolveDemo({ traceUrl: match[1]!, stop });
    };
    demo.stdout.on('data', onData);
    demo.stderr.on('data', onData);
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`the demo exited with ${code} before printing a trace link:\n${output}`));
    });
  });
}

function chromium(binary: string, profile: string, args: string[]): string {
  const result = spawnSync(binary, [
    '--headless',
    // As root (CI, containers) Chromium refuses to start with its sandbox.
    '--no-sandbox',
    '--disable-gpu',
    '--hide-scrollbars',
    `--user-data-dir=${profile}`,
    '--window-size=1400,860',
    // Runs the page's scripts (Zipkin's UI fetches the trace) until the page is idle, up to 15 s.
    '--virtual-time-budget=15000',
    ...args,
  ], { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, timeout: 120_000 });
  if (result.status !== 0) throw new Error(`${binary} ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
  return result.stdout;
}

const browser = findChromium();
const demo = await startDemo();
const profile = mkdtempSync(join(tmpdir(), 'rolldice-chromium-'));
try {
  const dom = chromium(browser, profile, ['--dump-dom', demo.traceUrl]);
  const text = textOf(dom);
  const missing = EXPECTED.filter((expected) => !text.includes(expected));
  if (missing.length > 0) {
    throw new Error(
      `the trace page shows no cross-runtime trace: ${
        missing.map((m) => JSON.stringify(m)).join(', ')
      } not on ${demo.traceUrl}`,
    );
  }
  mkdirSync(dirname(out), { recursive: true });
  chromium(browser, profile, [`--screenshot=${out}`, demo.traceUrl]);
  console.log(
    `screenshot: ${out} (${Math.round(statSync(out).size / 1024)} KiB); the page shows ${
      EXPECTED.map((e) => JSON.stringify(e.trim())).join(', ')
    }`,
  );
} catch (error) {
  console.error(`screenshot: ${(error as Error).message}`);
  process.exitCode = 1;
} finally {
  rmSync(profile, { recursive: true, force: true });
  await demo.stop();
}
