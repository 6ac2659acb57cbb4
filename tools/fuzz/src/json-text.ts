/**
 * Raw JSON text building. Frames under mutation are kept as ordered `[key, valueText]` entries rather
 * than objects, so a mutation can produce what `JSON.stringify` never would: duplicated keys, an own
 * `__proto__` key, raw number tokens such as `NaN` or `01`, or a value that is not JSON at all.
 */

export type JsonValue = null | boolean | number | string | JsonValue[] | { [key: string]: JsonValue };

/** One member of a JSON object as text: the key (serialized with JSON.stringify) and raw value text. */
export type Entry = [key: string, valueText: string];

export function objectText(entries: readonly Entry[]): string {
  return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${v}`).join(',')}}`;
}

export function entriesOf(frame: Record<string, unknown>): Entry[] {
  return Object.entries(frame)
    .filter(([, v]) => v !== undefined)
    .map(([k, v]) => [k, JSON.stringify(v)]);
}

/** JSON text of `depth` nested arrays (or objects) around `inner`, built without recursion. */
export function nestedText(depth: number, kind: 'array' | 'object', inner = 'null'): string {
  if (kind === 'array') return `${'['.repeat(depth)}${inner}${']'.repeat(depth)}`;
  return `${'{"a":'.repeat(depth)}${inner}${'}'.repeat(depth)}`;
}

/** What the peer actually puts on the wire for a JS string: lone surrogates become U+FFFD. */
export function wireText(text: string): string {
  return Buffer.from(text, 'utf8').toString('utf8');
}

export function utf8Length(data: string | Uint8Array): number {
  return typeof data === 'string' ? Buffer.byteLength(data, 'utf8') : data.byteLength;
}

/**
 * Whether some object of a JSON text names a member twice (§3.3, §8): a reading of the text token by
 * token, keeping the decoded names of each open object. Only for text `JSON.parse` accepts.
 */
export function repeatsAKey(text: string): boolean {
  const open: Array<Set<string> | null> = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '{') open.push(new Set());
    else if (c === '[') open.push(null);
    else if (c === '}' || c === ']') open.pop();
    else if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const token = text.slice(i, j + 1);
      let k = j + 1;
      while (k < text.length && /\s/.test(text[k]!)) k++;
      const names = open[open.length - 1];
      if (text[k] === ':' && names) {
        const name = JSON.parse(token) as string;
        if (names.has(name)) return true;
        names.add(name);
      }
      i = j;
    }
  }
  return false;
}
