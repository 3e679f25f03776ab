/**
 * The backend's web UI shows the cross-runtime trace: tools/screenshot.ts runs the demo, loads
 * the trace page in headless Chromium and fails when the rendered page lacks the three services'
 * spans. Skipped with the reason where Chromium, Go or Java is missing; with CI=true it fails.
 */
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import process from 'node:process';
import { test } from 'node:test';
import { collectorUnavailable, zipkinUnavailable } from '../../tools/prepare-real-components.ts';

const chromium = ['chromium', 'chromium-browser', 'google-chrome'].find((name) =>
  !spawnSync(name, ['--version']).error
);
const missing = chromium === undefined
  ? 'Chromium is not installed (apt-get install -y chromium)'
  : collectorUnavailable() ?? zipkinUnavailable();
const skip = process.env.CI === 'true' ? false : missing ?? false;

test(
  "Zipkin's UI renders the trace of one request through Node, Deno and Bun",
  { skip, timeout: 180_000 },
  async () => {
    assert.equal(missing, undefined, String(missing));
    const dir = mkdtempSync(join(tmpdir(), 'rolldice-ui-'));
    try {
      const out = join(dir, 'trace.png');
      const child = spawn(process.execPath, ['tools/screenshot.ts', `--out=${out}`], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let output = '';
      child.stdout.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (output += chunk));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      assert.equal(code, 0, `tools/screenshot.ts failed:\n${output}`);
      assert.ok(statSync(out).size > 10_000, 'the screenshot is a real picture');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
