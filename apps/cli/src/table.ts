/**
 * Rows of cells as aligned text: each column as wide as its widest cell, two spaces between, the
 * last column (free text such as a summary) left unpadded. Cells must already be terminal-safe
 * (terminal-text.ts). Loads nothing, so the fast path can use it.
 */
export function columns(rows: ReadonlyArray<readonly string[]>): string {
  const widths: number[] = [];
  for (const row of rows) row.forEach((cell, i) => (widths[i] = Math.max(widths[i] ?? 0, cell.length)));
  return rows.map((row) => row.map((cell, i) => (i === row.length - 1 ? cell : cell.padEnd(widths[i]!))).join('  ').trimEnd()).join('\n');
}
