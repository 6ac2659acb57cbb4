/**
 * Duplicate member names in a JSON object (docs/protocol.md §3.3, §8). JSON.parse keeps the last
 * of two equal names, other parsers the first; a frame or body that two readers understand
 * differently is refused instead.
 *
 * In valid JSON a `:` outside strings separates exactly one member name from its value, so a text
 * with more such colons than the parsed value has own keys held a name twice. Call it only with
 * text that `JSON.parse` accepted and the value it returned.
 */
export function hasDuplicateKeys(text: string, parsed: unknown): boolean {
  return memberSeparators(text) !== ownKeys(parsed);
}

function memberSeparators(text: string): number {
  let colons = 0;
  let i = 0;
  const n = text.length;
  while (i < n) {
    const c = text.charCodeAt(i);
    if (c === 0x22 /* " */) {
      i = endOfString(text, i + 1);
      continue;
    }
    if (c === 0x3a /* : */) colons++;
    i++;
  }
  return colons;
}

/** The index after the closing quote of a string whose body starts at `from`. */
function endOfString(text: string, from: number): number {
  let i = from;
  for (;;) {
    const quote = text.indexOf('"', i);
    if (quote < 0) return text.length;
    // The quote is escaped when an odd number of backslashes precedes it.
    let slashes = 0;
    for (let j = quote - 1; j >= from && text.charCodeAt(j) === 0x5c; j--) slashes++;
    if (slashes % 2 === 0) return quote + 1;
    i = quote + 1;
  }
}

function ownKeys(root: unknown): number {
  let count = 0;
  const stack: unknown[] = [root];
  while (stack.length > 0) {
    const value = stack.pop();
    if (typeof value !== 'object' || value === null) continue;
    if (Array.isArray(value)) {
      for (const item of value) stack.push(item);
      continue;
    }
    const keys = Object.keys(value);
    count += keys.length;
    for (const key of keys) stack.push((value as Record<string, unknown>)[key]);
  }
  return count;
}
