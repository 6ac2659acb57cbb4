/**
 * "Did you mean …?" for command names, flags and peer names. Plain functions without dependencies,
 * so the fast path and the daemon can use them as well as the command tree.
 */

/** Optimal string alignment distance (Levenshtein plus adjacent transpositions), case-insensitive. */
export function editDistance(a: string, b: string): number {
  const s = a.toLowerCase();
  const t = b.toLowerCase();
  const d: number[][] = Array.from({ length: s.length + 1 }, (_, i) => Array.from({ length: t.length + 1 }, (_, j) => (i === 0 ? j : j === 0 ? i : 0)));
  for (let i = 1; i <= s.length; i++) {
    for (let j = 1; j <= t.length; j++) {
      const cost = s[i - 1] === t[j - 1] ? 0 : 1;
      let best = Math.min(d[i - 1]![j]! + 1, d[i]![j - 1]! + 1, d[i - 1]![j - 1]! + cost);
      if (i > 1 && j > 1 && s[i - 1] === t[j - 2] && s[i - 2] === t[j - 1]) best = Math.min(best, d[i - 2]![j - 2]! + 1);
      d[i]![j] = best;
    }
  }
  return d[s.length]![t.length]!;
}

/**
 * The candidates close to `typed`, best first: within a third of the longer word's length (at least
 * one edit), or starting with what was typed (3+ characters). Empty when nothing is close.
 */
export function suggest(typed: string, candidates: Iterable<string>, max = 3): string[] {
  const scored: Array<{ c: string; d: number }> = [];
  const lower = typed.toLowerCase();
  for (const c of new Set(candidates)) {
    if (c === typed) continue;
    const d = editDistance(typed, c);
    const limit = Math.max(1, Math.floor(Math.max(typed.length, c.length) / 3));
    if (d <= limit || (lower.length >= 3 && c.toLowerCase().startsWith(lower))) scored.push({ c, d });
  }
  return scored
    .sort((x, y) => x.d - y.d || x.c.localeCompare(y.c))
    .slice(0, max)
    .map((x) => x.c);
}

/** `; did you mean a?` / `; did you mean a or b?`, or '' when there is nothing to offer. */
export function didYouMean(suggestions: readonly string[]): string {
  if (suggestions.length === 0) return '';
  const list = suggestions.length === 1 ? suggestions[0]! : `${suggestions.slice(0, -1).join(', ')} or ${suggestions[suggestions.length - 1]!}`;
  return `; did you mean ${list}?`;
}
