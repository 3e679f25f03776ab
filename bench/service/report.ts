/** Turns results into the printed/markdown tables and a hand-written SVG chart. */
import { type BenchResults, type Mode, MODE_LABELS, rowLabel, type RuntimeResult } from './results.ts';
import { formatSpread, type Spread } from '../lib/stats.ts';
import { markdownTable } from '../lib/output.ts';

const percent = (s: Spread | undefined) =>
  s ? formatSpread({ ...s, median: s.median * 100, min: s.min * 100, max: s.max * 100 }, 1) + ' %' : '–';

/**
 * One row per runtime and mode: the saturation phase (wrk) for throughput and CPU, the
 * fixed-rate phase for latency at the same load in every mode.
 */
export function resultsTable(results: BenchResults): string {
  const rate = `@ ${results.settings.rate}/s`;
  const rows: string[][] = [];
  for (const r of results.runtimes) {
    for (const mode of results.settings.modes) {
      const s = r.summary[mode];
      if (!s) continue;
      rows.push([
        `${rowLabel(r)} (${r.runtime} ${r.version})`,
        MODE_LABELS[mode],
        formatSpread(s.rps, 0),
        formatSpread(s.p50Ms, 2),
        formatSpread(s.p99Ms, 2),
        formatSpread(s.rateP50Ms, 2),
        formatSpread(s.rateP99Ms, 2),
        formatSpread(s.rateMaxMs, 1),
        formatSpread(s.cpuMicrosPerRequest, 1),
        formatSpread(s.kernelMicrosPerRequest, 1),
        mode === 'bare' ? '' : formatSpread(r.telemetryCostMicros[mode], 1),
        formatSpread(s.rssMB, 0),
        percent(s.spansReceived),
        percent(s.logsReceived),
      ]);
    }
  }
  return markdownTable(
    [
      'start command',
      'mode',
      'sat. req/s',
      'sat. p50 ms',
      'sat. p99 ms',
      `p50 ms ${rate}`,
      `p99 ms ${rate}`,
      `max ms ${rate}`,
      'CPU µs/req',
      'of which kernel',
      'telemetry µs/req',
      'RSS MB',
      'spans received',
      'logs received',
    ],
    rows,
  );
}

export function coldStartTable(results: BenchResults): string {
  return markdownTable(
    [
      'start command',
      "the runtime's hello server (ms)",
      'cold start, bare (ms)',
      'cold start, instrumented (ms)',
      'telemetry µs/req',
    ],
    results.runtimes.map((r) => [
      rowLabel(r),
      formatSpread(r.coldStartMs.hello, 0),
      formatSpread(r.coldStartMs.bare, 0),
      formatSpread(r.coldStartMs.instrumented, 0),
      formatSpread(r.telemetryCostMicros.otlp, 1),
    ]),
  );
}

export function budgetTable(results: BenchResults): string {
  const verdict = (pass: boolean | undefined) => (pass === undefined ? 'not measured' : pass ? 'pass' : 'MISS');
  return markdownTable(
    ['start command', 'budget', 'limit', 'measured', 'result'],
    results.runtimes.flatMap((r) =>
      r.budget.map((c) => [rowLabel(r), c.name, c.limit, c.value, verdict(c.pass) + (c.note ? ` (${c.note})` : '')])
    ),
  );
}

export function settingsLine(results: BenchResults): string {
  const s = results.settings;
  return `${results.date}, ${results.machine.cpus} × ${results.machine.cpuModel}; ${s.loadGenerator}; GET ${s.path}, ` +
    `${s.warmupSeconds} s warm-up, then ${s.rateSeconds} s at a fixed ${s.rate} req/s (open loop, ${s.rateSockets} ` +
    `keep-alive connections, latency from each request's intended send time), then ${s.durationSeconds} s saturated ` +
    `(sat.: wrk, ${s.connections} keep-alive connections; CPU and RSS are from this phase); ${s.rounds} interleaved ` +
    `round(s), medians (min–max); ${s.pinning}. Telemetry µs/req = the mode's server CPU per request minus bare's, ` +
    `paired per round.`;
}

/** latest.md: the tables bench/README.md shows. */
export function markdownReport(results: BenchResults): string {
  return [
    '## Telemetry cost per request',
    '',
    settingsLine(results),
    '',
    resultsTable(results),
    '',
    '### Cold start (spawn to the first 200 on /rolldice)',
    '',
    coldStartTable(results),
    '',
    `### Budget (p99 from the fixed-rate phase at ${results.settings.rate} req/s, RSS after the saturated phase)`,
    '',
    budgetTable(results),
    '',
    ...(results.notes.length > 0 ? ['### Notes', '', ...results.notes.map((n) => `- ${n}`), ''] : []),
    ...(results.errors.length > 0 ? ['### Errors', '', ...results.errors.map((e) => `- ${e.split('\n')[0]}`), ''] : []),
  ].join('\n');
}

// ---- SVG ------------------------------------------------------------------------------------

const COLORS: Record<Mode, string> = { bare: '#9aa5b1', otlp: '#3b7dd8', gzip: '#2f9e6e', down: '#e08a2c' };

const escapeXml = (text: string) => text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** A round step: 1, 2, 2.5 or 5 times a power of ten, at least `value`. */
function niceCeiling(value: number): number {
  if (!(value > 0)) return 1;
  const power = 10 ** Math.floor(Math.log10(value));
  return ([1, 2, 2.5, 5, 10].find((m) => m * power >= value) ?? 10) * power;
}

/** Gridlines at a round step, at most four of them above zero, the top one over `max`. */
function axis(max: number): { top: number; step: number } {
  const step = niceCeiling(max / 4);
  return { step, top: step * Math.max(1, Math.ceil(max / step)) };
}

function compact(value: number): string {
  if (value >= 1000) return `${Number((value / 1000).toFixed(1))}k`;
  return value >= 100 || Number.isInteger(value) ? value.toFixed(0) : value.toFixed(1);
}

interface Panel {
  title: string;
  metric: (r: RuntimeResult, mode: Mode) => Spread | undefined;
}

/** One bar chart: a group per runtime, a bar per mode, min–max whiskers. */
function panel(results: BenchResults, p: Panel, x0: number, width: number, height: number): string {
  const top = 40;
  const bottom = height - 40;
  const left = x0 + 50;
  const right = x0 + width - 10;
  const modes = results.settings.modes;
  const values = results.runtimes.flatMap((r) => modes.map((m) => p.metric(r, m)?.max ?? 0));
  const { top: max, step } = axis(Math.max(...values, 0));
  const y = (v: number) => bottom - ((bottom - top) * v) / max;
  const out: string[] = [`<text x="${x0 + width / 2}" y="22" class="title">${escapeXml(p.title)}</text>`];

  for (let i = 0; i * step <= max + step / 1000; i++) {
    const v = i * step;
    out.push(`<line x1="${left}" x2="${right}" y1="${y(v)}" y2="${y(v)}" class="grid"/>`);
    out.push(`<text x="${left - 6}" y="${y(v) + 4}" class="tick">${compact(v)}</text>`);
  }
  const groupWidth = (right - left) / Math.max(results.runtimes.length, 1);
  const barWidth = Math.min(36, (groupWidth - 20) / modes.length);
  results.runtimes.forEach((r, g) => {
    const groupLeft = left + g * groupWidth + (groupWidth - barWidth * modes.length) / 2;
    modes.forEach((mode, b) => {
      const s = p.metric(r, mode);
      if (!s) return;
      const bx = groupLeft + b * barWidth;
      const cx = bx + barWidth / 2;
      out.push(
        `<rect x="${bx + 2}" y="${y(s.median)}" width="${barWidth - 4}" height="${bottom - y(s.median)}" fill="${
          COLORS[mode]
        }"><title>${escapeXml(`${rowLabel(r)}, ${MODE_LABELS[mode]}: ${formatSpread(s, 1)}`)}</title></rect>`,
      );
      if (s.max > s.min) out.push(`<line x1="${cx}" x2="${cx}" y1="${y(s.min)}" y2="${y(s.max)}" class="whisker"/>`);
      out.push(`<text x="${cx}" y="${y(s.max) - 4}" class="value">${compact(s.median)}</text>`);
    });
    out.push(
      `<text x="${left + g * groupWidth + groupWidth / 2}" y="${bottom + 18}" class="label">${
        escapeXml(rowLabel(r))
      }</text>`,
    );
  });
  out.push(`<line x1="${left}" x2="${right}" y1="${bottom}" y2="${bottom}" class="axis"/>`);
  return out.join('\n');
}

export function svgChart(results: BenchResults): string {
  const panels: Panel[] = [
    { title: 'server CPU per request (µs, lower is better)', metric: (r, m) => r.summary[m]?.cpuMicrosPerRequest },
    { title: 'requests per second, saturated (higher is better)', metric: (r, m) => r.summary[m]?.rps },
    { title: `p99 at ${results.settings.rate} req/s (ms, lower is better)`, metric: (r, m) => r.summary[m]?.rateP99Ms },
    {
      title: 'cold start, spawn to first 200 (ms)',
      metric: (r, m) => (m === 'bare' ? r.coldStartMs.bare : m === 'otlp' ? r.coldStartMs.instrumented : undefined),
    },
  ];
  const panelWidth = 440;
  const width = panelWidth * panels.length;
  const height = 340;
  const legend = results.settings.modes.map((mode, i) =>
    `<rect x="${60 + i * 190}" y="${height - 16}" width="12" height="12" fill="${COLORS[mode]}"/>` +
    `<text x="${78 + i * 190}" y="${height - 6}" class="legend">${escapeXml(MODE_LABELS[mode])}</text>`
  );
  return [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height + 10}" viewBox="0 0 ${width} ${
      height + 10
    }" font-family="system-ui, sans-serif">`,
    '<style>',
    '.title{font-size:14px;font-weight:600;text-anchor:middle}.tick{font-size:11px;text-anchor:end;fill:#555}',
    '.label{font-size:11px;text-anchor:middle}.value{font-size:10px;text-anchor:middle;fill:#333}',
    '.legend{font-size:12px}.grid{stroke:#e5e5e5}.axis{stroke:#333}.whisker{stroke:#222;stroke-width:1.5}',
    '</style>',
    '<rect width="100%" height="100%" fill="#fff"/>',
    ...panels.map((p, i) => panel(results, p, i * panelWidth, panelWidth, height - 10)),
    ...legend,
    `<text x="${width - 8}" y="${height + 4}" class="tick">median, whiskers min–max; ${
      escapeXml(results.date.slice(0, 10))
    }</text>`,
    '</svg>',
    '',
  ].join('\n');
}
