/**
 * REST fuzzing, request bodies: JSON bodies mutated like frames (dropped, added, renamed, replaced
 * and duplicated keys, truncation, non-objects, a BOM), junk bodies, and odd content types. Shared
 * by the signed-route cases (rest-cases.ts) and the bearer cases (rest-bearer-cases.ts).
 */
import fc from 'fast-check';
import { NASTY_STRINGS, jsonJunk } from './frames.js';
import { nestedText, wireText } from './json-text.js';
import { JSON_CT, type BodySpec } from './rest-model.js';
// ---------------------------------------------------------------------------------------------
// JSON body mutation (nested objects, raw keys, duplicated keys)

type JNode = { t: 'raw'; text: string } | { t: 'obj'; entries: Array<[string, JNode]> };

function toNode(value: unknown): JNode {
  if (typeof value === 'object' && value !== null && !Array.isArray(value)) return { t: 'obj', entries: Object.entries(value).map(([k, v]) => [k, toNode(v)]) };
  return { t: 'raw', text: JSON.stringify(value) };
}

function nodeText(n: JNode): string {
  return n.t === 'raw' ? n.text : `{${n.entries.map(([k, v]) => `${JSON.stringify(k)}:${nodeText(v)}`).join(',')}}`;
}

function objectPaths(n: JNode, prefix: string[] = []): string[][] {
  if (n.t !== 'obj') return [];
  return [prefix, ...n.entries.flatMap(([k, v]) => objectPaths(v, [...prefix, k]))];
}

function at(n: JNode, path: string[]): JNode {
  let cur = n;
  for (const key of path) {
    if (cur.t !== 'obj') return cur;
    cur = cur.entries.find(([k]) => k === key)?.[1] ?? cur;
  }
  return cur;
}

function clone(n: JNode): JNode {
  return n.t === 'raw' ? { ...n } : { t: 'obj', entries: n.entries.map(([k, v]) => [k, clone(v)]) };
}

const JUNK_VALUE_TEXT = (): fc.Arbitrary<string> =>
  fc.oneof(
    jsonJunk().map((v) => JSON.stringify(v)),
    fc.constantFrom(...NASTY_STRINGS).map((s) => JSON.stringify(s)),
    fc.constantFrom(
      '-1',
      '0',
      '1.5',
      '1e400',
      '8640000000000001',
      '9007199254740993',
      '"x"',
      '""',
      'null',
      '[]',
      '{}',
      JSON.stringify('a'.repeat(101)),
      JSON.stringify('A'.repeat(64)),
    ),
    fc.integer({ min: 1, max: 300 }).map((d) => nestedText(d, 'array')),
  );

/** Raw JSON text of a mutated body, and a label. */
export function mutatedBody(template: Record<string, unknown>): fc.Arbitrary<{ text: string; label: string }> {
  const root = toNode(template);
  const paths = objectPaths(root);
  const op = fc.constantFrom('drop', 'add', 'rename', 'replace', 'duplicate', 'truncate', 'non-object', 'bom');
  return fc
    .tuple(op, fc.constantFrom(...paths), fc.oneof(fc.constantFrom('__proto__', 'constructor', 'extra', '', 'k'), fc.string({ maxLength: 8 })), JUNK_VALUE_TEXT(), fc.nat())
    .map(([kind, path, key, junk, n]) => {
      const tree = clone(root);
      const target = at(tree, path);
      if (target.t !== 'obj') return { text: nodeText(tree), label: 'unchanged' };
      const i = target.entries.length > 0 ? n % target.entries.length : 0;
      const where = path.join('.') || '(root)';
      switch (kind) {
        case 'drop':
          target.entries.splice(i, 1);
          return { text: nodeText(tree), label: `drop:${where}.${i}` };
        case 'add':
          target.entries.push([wireText(key), key === 'constructor' ? { t: 'raw', text: '{"prototype":{"x":1}}' } : { t: 'raw', text: junk }]);
          return { text: nodeText(tree), label: `add:${where}.${JSON.stringify(key).slice(0, 12)}` };
        case 'rename': {
          const entry = target.entries[i];
          if (entry) entry[0] = `${entry[0].toUpperCase()}_`;
          return { text: nodeText(tree), label: `rename:${where}` };
        }
        case 'replace': {
          const entry = target.entries[i];
          if (entry) entry[1] = { t: 'raw', text: junk };
          return { text: nodeText(tree), label: `replace:${where}.${entry?.[0] ?? ''}` };
        }
        case 'duplicate': {
          const entry = target.entries[i];
          if (entry) target.entries.splice(n % 2 === 0 ? i : target.entries.length, 0, [entry[0], { t: 'raw', text: junk }]);
          return { text: nodeText(tree), label: `duplicate:${where}.${entry?.[0] ?? ''}` };
        }
        case 'truncate': {
          const full = nodeText(tree);
          return { text: wireText(full.slice(0, n % full.length)), label: 'truncate' };
        }
        case 'non-object':
          return { text: junk, label: 'non-object' };
        default:
          return { text: `\ufeff${nodeText(tree)}`, label: 'bom' };
      }
    });
}

export const CONTENT_TYPES = [
  JSON_CT,
  'application/json; charset=utf-8',
  'Application/JSON',
  'text/plain',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/json; charset=utf-16',
  'application/octet-stream',
  'text/json',
  '*/*',
  'application/jsonx',
  '',
];

export function bodyArb(template: Record<string, unknown> | null): fc.Arbitrary<{ body: BodySpec; label: string }> {
  const options: Array<fc.WeightedArbitrary<{ body: BodySpec; label: string }>> = [
    { weight: 1, arbitrary: fc.constant({ body: { kind: 'none' } as BodySpec, label: 'no-body' }) },
    { weight: 1, arbitrary: jsonJunk().map((v) => ({ body: { kind: 'text', text: JSON.stringify(v) } as BodySpec, label: 'json-junk' })) },
    { weight: 1, arbitrary: fc.string({ unit: 'binary', maxLength: 80 }).map((t) => ({ body: { kind: 'text', text: wireText(t) } as BodySpec, label: 'text-junk' })) },
    { weight: 1, arbitrary: fc.uint8Array({ maxLength: 200 }).map((bytes) => ({ body: { kind: 'bytes', bytes } as BodySpec, label: 'bytes' })) },
    {
      weight: 1,
      arbitrary: fc.integer({ min: 1, max: 20_000 }).map((d) => ({ body: { kind: 'text', text: nestedText(d, d % 2 ? 'array' : 'object') } as BodySpec, label: 'deep' })),
    },
  ];
  if (template) {
    options.push({
      weight: 8,
      arbitrary: mutatedBody(template).map(({ text, label }) => ({ body: { kind: 'text', text } as BodySpec, label: `mutated-${label.replace(/[:.].*$/, '')}` })),
    });
    options.push({ weight: 2, arbitrary: fc.constant({ body: { kind: 'text', text: JSON.stringify(template) } as BodySpec, label: 'placeholder' }) });
  }
  return fc.oneof(...options);
}

export const contentTypeArb = (): fc.Arbitrary<string | null> =>
  fc.oneof({ weight: 8, arbitrary: fc.constant(JSON_CT) }, { weight: 2, arbitrary: fc.constantFrom<string | null>(null, ...CONTENT_TYPES) });
