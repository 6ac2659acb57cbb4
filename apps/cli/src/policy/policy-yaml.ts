import { isMap, isSeq, LineCounter, parseDocument, type Node } from 'yaml';
import { APPROVAL_MODES, DECISIONS, isApprovalMode, type Decision, type Policy, type PolicyOrigin, type Rule } from './rules.js';
import { KINDS, type Kind } from './verbs.js';

/**
 * Parses and checks a policy file. Loaded with import() only when a file other than the untouched
 * default has to be read, so a verb on the default policy never pays for the YAML parser.
 */
export class PolicySyntaxError extends Error {}

const TOP_KEYS = ['version', 'mode', 'rules'];
const MATCHERS = ['resource', 'verb', 'mesh', 'peers', 'kind'] as const;
const RULE_KEYS = [...MATCHERS, 'decision', 'reason'];

function globs(value: unknown, what: string): string[] {
  const list = Array.isArray(value) ? value : [value];
  if (list.length === 0) throw new PolicySyntaxError(`${what} is an empty list (it would match nothing; leave it out to match anything)`);
  return list.map((v) => {
    if (typeof v === 'number') return String(v);
    if (typeof v !== 'string' || v === '') throw new PolicySyntaxError(`${what} wants text or a list of texts (globs), got ${JSON.stringify(v)}`);
    return v;
  });
}

function toRule(raw: unknown, index: number, line: number | null): Rule {
  const at = `rule ${index}`;
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new PolicySyntaxError(`${at} is not a mapping (e.g. - { resource: message, verb: send, decision: allow })`);
  const o = raw as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !RULE_KEYS.includes(k));
  if (unknown.length) throw new PolicySyntaxError(`${at} has unknown key${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} (a rule has ${RULE_KEYS.join(', ')})`);
  if (!DECISIONS.includes(o['decision'] as Decision)) throw new PolicySyntaxError(`${at} needs decision: ${DECISIONS.join(' | ')}${o['decision'] === undefined ? '' : ` (got ${JSON.stringify(o['decision'])})`}`);
  const rule: Rule = { index, line, decision: o['decision'] as Decision };
  for (const key of MATCHERS) {
    if (o[key] === undefined || o[key] === null) continue;
    const values = globs(o[key], `${at}: ${key}`);
    if (key === 'kind') {
      const bad = values.find((v) => !(KINDS as readonly string[]).includes(v));
      if (bad) throw new PolicySyntaxError(`${at}: kind "${bad}" is not one of ${KINDS.join(', ')}`);
      rule.kind = values as Kind[];
    } else rule[key] = values;
  }
  if (o['reason'] !== undefined) {
    if (typeof o['reason'] !== 'string') throw new PolicySyntaxError(`${at}: reason wants text`);
    rule.reason = o['reason'];
  }
  return rule;
}

/** A policy from YAML text; errors say the file and line. */
export function parsePolicyYaml(text: string, file: string, origin: PolicyOrigin): Policy {
  const lineCounter = new LineCounter();
  const doc = parseDocument(text, { lineCounter, prettyErrors: false, uniqueKeys: true });
  const lineOf = (node: Node | null | undefined): number | null => (node?.range ? lineCounter.linePos(node.range[0]).line : null);
  const fail = (line: number | null, message: string): never => {
    throw new PolicySyntaxError(`${file}${line ? ` line ${line}` : ''}: ${message}`);
  };
  const error = doc.errors[0];
  if (error) fail(lineCounter.linePos(error.pos[0]).line, error.message.split('\n')[0]!);
  const root = doc.contents;
  if (root === null) return { origin, file, rules: [] };
  if (!isMap(root)) return fail(lineOf(root), `a policy is a mapping with ${TOP_KEYS.join(', ')}`);
  const top = doc.toJS() as Record<string, unknown>;
  for (const key of Object.keys(top)) {
    if (!TOP_KEYS.includes(key)) fail(lineOf(root.items.find((p) => (p.key as { value?: unknown } | null)?.value === key)?.key as Node), `unknown key "${key}" (a policy has ${TOP_KEYS.join(', ')})`);
  }
  if (top['version'] !== undefined && top['version'] !== 1) fail(lineOf(doc.get('version', true) as Node), `version ${JSON.stringify(top['version'])}: this claudemesh reads version 1`);
  const policy: Policy = { origin, file, rules: [] };
  if (top['mode'] !== undefined && top['mode'] !== null) {
    if (origin === 'admin') fail(lineOf(doc.get('mode', true) as Node), 'an admin policy sets no mode (deny what must not run: - { kind: [write, destructive], decision: deny })');
    if (!isApprovalMode(top['mode'])) fail(lineOf(doc.get('mode', true) as Node), `mode must be ${APPROVAL_MODES.join(', ')} (got ${JSON.stringify(top['mode'])})`);
    policy.mode = top['mode'] as Policy['mode'];
  }
  const rulesNode = doc.get('rules', true) as Node | null | undefined;
  if (rulesNode === undefined || rulesNode === null || top['rules'] === null) return policy;
  if (!isSeq(rulesNode)) return fail(lineOf(rulesNode), 'rules is a list (each item: - { …, decision: allow | prompt | deny })');
  const raw = top['rules'] as unknown[];
  rulesNode.items.forEach((item, i) => {
    const line = lineOf(item as Node);
    try {
      policy.rules.push(toRule(raw[i], i + 1, line));
    } catch (e) {
      fail(line, (e as Error).message);
    }
  });
  return policy;
}
