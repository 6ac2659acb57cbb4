import { gatedVerb, type Kind } from './verbs.js';

/**
 * The policy engine: pure functions from (request, policies, approval mode) to a decision. No I/O,
 * no Nest, no zod — the fast path and the MCP pipe run the same code as the command tree.
 */
export type Decision = 'allow' | 'prompt' | 'deny';
export const DECISIONS: readonly Decision[] = ['allow', 'prompt', 'deny'];

export type ApprovalMode = 'plan' | 'read-only' | 'write' | 'yolo';
export const APPROVAL_MODES: readonly ApprovalMode[] = ['plan', 'read-only', 'write', 'yolo'];
export const DEFAULT_MODE: ApprovalMode = 'write';

export const isApprovalMode = (v: unknown): v is ApprovalMode => typeof v === 'string' && (APPROVAL_MODES as readonly string[]).includes(v);

/** What a verb asks to do. `mesh` is null when it is not known (join) or not resolvable. */
export interface GateRequest {
  resource: string;
  verb: string;
  mesh: { name: string; id: string | null } | null;
  /** Targets as typed: display names, member keys, @group, *. */
  peers: string[];
}

/** One rule; every matcher is a list of globs (any may match), absent = matches anything. */
export interface Rule {
  /** 1-based position in its file. */
  index: number;
  /** 1-based line in its file, when known. */
  line: number | null;
  resource?: string[];
  verb?: string[];
  mesh?: string[];
  peers?: string[];
  kind?: Kind[];
  decision: Decision;
  reason?: string;
}

export type PolicyOrigin = 'admin' | 'user';

export interface Policy {
  origin: PolicyOrigin;
  file: string;
  mode?: ApprovalMode;
  rules: Rule[];
}

/** Where the decision came from, for messages and the audit log. */
export type Because =
  | { by: 'rule'; origin: PolicyOrigin; file: string; rule: Rule }
  | { by: 'default'; kind: Kind }
  | { by: 'mode'; mode: ApprovalMode };

export interface Evaluation {
  kind: Kind;
  /** `plan`: approval mode plan — nothing runs; `would` says what would have happened. */
  decision: Decision | 'plan';
  would: Decision;
  because: Because;
  /** Only a terminal answers an admin rule's prompt: yolo and --yes do not. */
  adminPrompt: boolean;
}

/** The decision when no rule matches. */
export const DEFAULT_DECISION: Readonly<Record<Kind, Decision>> = { read: 'allow', write: 'allow', destructive: 'prompt' };

const globCache = new Map<string, RegExp>();

/** `*` any text, `?` one character, `\x` the character x itself; anchored and case-sensitive. */
export function globToRegExp(glob: string): RegExp {
  let re = globCache.get(glob);
  if (re) return re;
  let src = '';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i]!;
    if (c === '\\' && i + 1 < glob.length) src += escapeChar(glob[++i]!);
    else if (c === '*') src += '.*';
    else if (c === '?') src += '.';
    else src += escapeChar(c);
  }
  re = new RegExp(`^${src}$`, 's');
  globCache.set(glob, re);
  return re;
}

const escapeChar = (c: string): string => c.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');

const anyMatch = (globs: string[], values: string[]): boolean => values.some((v) => globs.some((g) => globToRegExp(g).test(v)));

export function ruleMatches(rule: Rule, request: GateRequest, kind: Kind): boolean {
  if (rule.resource && !anyMatch(rule.resource, [request.resource])) return false;
  if (rule.verb && !anyMatch(rule.verb, [request.verb])) return false;
  if (rule.kind && !rule.kind.includes(kind)) return false;
  if (rule.mesh) {
    if (!request.mesh) return false;
    if (!anyMatch(rule.mesh, request.mesh.id ? [request.mesh.name, request.mesh.id] : [request.mesh.name])) return false;
  }
  if (rule.peers && !anyMatch(rule.peers, request.peers)) return false;
  return true;
}

/** The first matching rule: the admin policy's rules come before the user's. */
export function firstMatch(request: GateRequest, kind: Kind, policies: Policy[]): { policy: Policy; rule: Rule } | null {
  for (const origin of ['admin', 'user'] as const) {
    for (const policy of policies.filter((p) => p.origin === origin)) {
      const rule = policy.rules.find((r) => ruleMatches(r, request, kind));
      if (rule) return { policy, rule };
    }
  }
  return null;
}

/**
 * Rule (or default) first, then the approval mode on top of it: a deny always stands; plan runs
 * nothing; read-only refuses anything but reads; yolo lifts prompts, except an admin rule's.
 */
export function evaluate(request: GateRequest, policies: Policy[], mode: ApprovalMode): Evaluation {
  const { kind } = gatedVerb(request.resource, request.verb);
  const match = firstMatch(request, kind, policies);
  const would = match ? match.rule.decision : DEFAULT_DECISION[kind];
  const ruled: Because = match ? { by: 'rule', origin: match.policy.origin, file: match.policy.file, rule: match.rule } : { by: 'default', kind };
  const adminPrompt = would === 'prompt' && match?.policy.origin === 'admin';
  if (would === 'deny') return { kind, decision: 'deny', would, because: ruled, adminPrompt };
  if (mode === 'plan') return { kind, decision: 'plan', would, because: ruled, adminPrompt };
  if (mode === 'read-only' && kind !== 'read') return { kind, decision: 'deny', would, because: { by: 'mode', mode }, adminPrompt };
  if (mode === 'yolo' && would === 'prompt' && !adminPrompt) return { kind, decision: 'allow', would, because: { by: 'mode', mode }, adminPrompt };
  return { kind, decision: would, would, because: ruled, adminPrompt };
}

/** "rule 3 of /home/u/.claudemesh/policy.yaml (line 20)", "the built-in default for writes", "approval mode yolo". */
export function describeBecause(b: Because): string {
  switch (b.by) {
    case 'rule':
      return `rule ${b.rule.index} of ${b.origin === 'admin' ? 'the admin policy ' : ''}${b.file}${b.rule.line ? ` (line ${b.rule.line})` : ''}${b.rule.reason ? `: "${b.rule.reason}"` : ''}`;
    case 'default':
      return `the built-in default for ${b.kind === 'destructive' ? 'destructive verbs' : `${b.kind}s`} (no rule matched)`;
    case 'mode':
      return `approval mode ${b.mode}`;
  }
}
