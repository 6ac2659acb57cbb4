/**
 * A row of block characters, one per value, scaled to the largest: █ is the maximum, ▁ up to an
 * eighth of it, and a zero is a space (so "nothing" and "a little" differ). Loads nothing.
 */
const BLOCKS = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

export function sparkline(values: readonly number[]): string {
  const max = Math.max(0, ...values);
  return values
    .map((v) => {
      if (v <= 0 || max === 0) return ' ';
      return BLOCKS[Math.min(BLOCKS.length - 1, Math.ceil((v / max) * BLOCKS.length) - 1)]!;
    })
    .join('');
}

/** A duration in seconds as `3h 05m`, `12m 30s` or `45s`. */
export function durationText(seconds: number): string {
  const s = Math.max(0, Math.round(seconds));
  const h = Math.floor(s / 3600);
  const m = Math.floor((s % 3600) / 60);
  if (h > 0) return `${h}h ${String(m).padStart(2, '0')}m`;
  if (m > 0) return `${m}m ${String(s % 60).padStart(2, '0')}s`;
  return `${s}s`;
}

/** A latency in ms as `≤25ms`, `≤2.5s`, or `>60s` (null: nothing, or past the last bucket). */
export function latencyText(ms: number | null, count: number, lastBoundMs: number): string {
  if (count === 0) return '-';
  if (ms === null) return `>${lastBoundMs / 1000}s`;
  return ms < 1000 ? `≤${ms}ms` : `≤${ms / 1000}s`;
}
