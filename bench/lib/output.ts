/** What the benchmarks print and write: tables, and where the results went. */
import { relative } from 'node:path';
import process from 'node:process';

/** A markdown table padded so that it also reads as a table in a terminal. */
export function markdownTable(header: string[], rows: string[][]): string {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => `| ${cells.map((c, i) => c.padEnd(widths[i]!)).join(' | ')} |`;
  return [line(header), `|${widths.map((w) => '-'.repeat(w + 2)).join('|')}|`, ...rows.map(line)].join('\n');
}

/** A results directory as the user would type it: relative inside the checkout, absolute outside. */
export function shownPath(dir: string): string {
  const inside = relative(process.cwd(), dir);
  return inside === '' ? '.' : inside.startsWith('..') ? dir : inside;
}
