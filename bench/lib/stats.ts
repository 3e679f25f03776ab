/** Medians with their spread: on a shared, noisy machine a single figure would hide the noise. */

export interface Spread {
  median: number;
  min: number;
  max: number;
  n: number;
}

export function spread(values: readonly number[]): Spread | undefined {
  const finite = values.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  const n = finite.length;
  if (n === 0) return undefined;
  const mid = Math.floor(n / 2);
  const median = n % 2 === 1 ? finite[mid]! : (finite[mid - 1]! + finite[mid]!) / 2;
  return { median, min: finite[0]!, max: finite[n - 1]!, n };
}

/** `12.3 (11.9–13.0)`, or just the median when every sample agrees or there is one. */
export function formatSpread(s: Spread | undefined, digits: number): string {
  if (!s) return '–';
  const f = (v: number) => v.toFixed(digits);
  if (s.n === 1 || f(s.min) === f(s.max)) return f(s.median);
  return `${f(s.median)} (${f(s.min)}–${f(s.max)})`;
}
