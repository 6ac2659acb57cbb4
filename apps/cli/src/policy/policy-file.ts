import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { DEFAULT_MODE, isApprovalMode, APPROVAL_MODES, type ApprovalMode, type Policy, type PolicyOrigin, type Rule } from './rules.js';
import type { Kind } from './verbs.js';

/** Where the policies come from (docs/cli.md, "Policy and audit"). */
export const POLICY_ENV = 'CLAUDEMESH_POLICY';
export const MODE_ENV = 'CLAUDEMESH_APPROVAL_MODE';
export const ADMIN_POLICY_ENV = 'CLAUDEMESH_ADMIN_POLICY';
export const ADMIN_POLICY_FILE = '/etc/claudemesh/admin-policy.yaml';

/** A policy that cannot be used: the verb is refused (fail closed), never run unchecked. */
export class PolicyFileError extends Error {
  constructor(
    message: string,
    readonly origin: PolicyOrigin,
  ) {
    super(message);
  }
}

/** Written to $CLAUDEMESH_HOME/policy.yaml (0600) the first time a gated verb runs without one. */
export const DEFAULT_POLICY_TEXT = `# claudemesh policy: what claudemesh may do on your meshes from this machine.
#
# Every verb that reaches a broker (send, peer list, inbox, mesh invite, mesh leave, join, the MCP
# tools, ...) is checked here first, and each decision is appended to audit.log next to this file
# (claudemesh audit show, claudemesh audit verify). Reference: docs/cli.md, "Policy and audit".
#
# Rules are tried from the top; the first that matches decides:
#   allow   run it
#   prompt  ask on the terminal first (with no terminal, as from Claude or a script: refused)
#   deny    refuse it
# A rule matches on any of these keys (a missing key matches anything, a list means any of its
# items; globs: * any text, ? one character, \\* a literal *):
#   resource  mesh | peer | message | status | summary | group
#   verb      e.g. send, list, inbox, read, status, set, create, invite, share, join, leave, grant
#   mesh      a mesh name or id
#   peers     a target as typed: display name, member key, @group, or '\\*' (everyone)
#   kind      read | write | destructive
# An optional reason: is shown when the rule refuses or asks.
#
# mode is the approval mode unless --approval-mode or CLAUDEMESH_APPROVAL_MODE says otherwise:
#   plan (run nothing, say what would run) | read-only | write | yolo (no prompts; deny still denies)
version: 1
mode: write
rules:
  # Your rules go here, above the defaults. For example:
  # - { resource: message, verb: send, peers: ['\\*'], decision: prompt, reason: "a broadcast reaches everyone" }
  # - { mesh: prod, kind: [write, destructive], decision: deny, reason: "prod is read-only from here" }
  # - { resource: mesh, verb: [invite, share], decision: prompt }

  # The defaults: reads and writes run, destructive verbs (mesh leave) ask first.
  - { kind: read, decision: allow }
  - { kind: write, decision: allow }
  - { kind: destructive, decision: prompt }
`;

/** The default file as parsed, without loading the YAML parser (a test checks it matches the parse). */
export function builtinDefaultPolicy(file: string): Policy {
  const lines = DEFAULT_POLICY_TEXT.split('\n');
  const rule = (index: number, kind: Kind[], decision: Rule['decision']): Rule => ({
    index,
    line: lines.indexOf(`  - { kind: ${kind[0]}, decision: ${decision} }`) + 1,
    kind,
    decision,
  });
  return { origin: 'user', file, mode: 'write', rules: [rule(1, ['read'], 'allow'), rule(2, ['write'], 'allow'), rule(3, ['destructive'], 'prompt')] };
}

/**
 * The last edited user policy as parsed, keyed by its path and text, so a verb skips the YAML parser
 * (~10 ms) until the file changes. Never for an admin file: this cache is the user's to write.
 */
const cacheFile = (home: string): string => join(home, 'cache', 'policy.json');

function cached(home: string, key: string): Policy | null {
  try {
    const c = JSON.parse(readFileSync(cacheFile(home), 'utf8')) as { v?: number; key?: string; policy?: Policy };
    return c.v === 1 && c.key === key && c.policy ? c.policy : null;
  } catch {
    return null;
  }
}

function remember(home: string, key: string, policy: Policy): void {
  try {
    mkdirSync(join(home, 'cache'), { recursive: true, mode: 0o700 });
    const tmp = `${cacheFile(home)}.${process.pid}.tmp`;
    writeFileSync(tmp, JSON.stringify({ v: 1, key, policy }), { mode: 0o600 });
    renameSync(tmp, cacheFile(home));
  } catch {
    // a cache: the next verb parses again
  }
}

async function parseFile(file: string, origin: PolicyOrigin, home: string): Promise<Policy> {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new PolicyFileError(`cannot read ${origin === 'admin' ? 'the admin policy ' : ''}${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, origin);
  }
  if (origin === 'user' && text === DEFAULT_POLICY_TEXT) return builtinDefaultPolicy(file);
  const key = createHash('sha256').update(`${file}\0${text}`).digest('hex');
  const hit = origin === 'user' ? cached(home, key) : null;
  if (hit) return hit;
  const { parsePolicyYaml } = await import('./policy-yaml.js');
  let policy: Policy;
  try {
    policy = parsePolicyYaml(text, file, origin);
  } catch (error) {
    throw new PolicyFileError((error as Error).message, origin);
  }
  if (origin === 'user') remember(home, key, policy);
  return policy;
}

export interface PolicySources {
  home: string;
  env: NodeJS.ProcessEnv;
  /** --policy */
  policyPath?: string | undefined;
}

/** The user's policy file: --policy, else CLAUDEMESH_POLICY, else $CLAUDEMESH_HOME/policy.yaml (written on first use). */
export function userPolicyFile(s: PolicySources): { file: string; explicit: string | null } {
  if (s.policyPath) return { file: resolve(s.policyPath), explicit: '--policy' };
  if (s.env[POLICY_ENV]) return { file: resolve(s.env[POLICY_ENV]), explicit: POLICY_ENV };
  return { file: join(s.home, 'policy.yaml'), explicit: null };
}

/**
 * The admin policies: /etc/claudemesh/admin-policy.yaml when it exists, and CLAUDEMESH_ADMIN_POLICY
 * when set. The variable adds a file, it cannot hide the one under /etc.
 */
export function adminPolicyFiles(env: NodeJS.ProcessEnv): string[] {
  const files = existsSync(ADMIN_POLICY_FILE) ? [ADMIN_POLICY_FILE] : [];
  const extra = env[ADMIN_POLICY_ENV];
  if (extra && resolve(extra) !== ADMIN_POLICY_FILE && existsSync(extra)) files.push(resolve(extra));
  return files;
}

export interface LoadedPolicies {
  policies: Policy[];
  user: Policy;
}

export async function loadPolicies(s: PolicySources): Promise<LoadedPolicies> {
  const admin = await Promise.all(adminPolicyFiles(s.env).map((f) => parseFile(f, 'admin', s.home)));
  const { file, explicit } = userPolicyFile(s);
  if (!existsSync(file)) {
    if (explicit) throw new PolicyFileError(`no policy file at ${file} (from ${explicit}); create it or leave ${explicit} out to use ${join(s.home, 'policy.yaml')}`, 'user');
    writeDefaultPolicy(s.home, file);
  }
  const user = await parseFile(file, 'user', s.home);
  return { policies: [...admin, user], user };
}

function writeDefaultPolicy(home: string, file: string): void {
  mkdirSync(home, { recursive: true, mode: 0o700 });
  try {
    writeFileSync(file, DEFAULT_POLICY_TEXT, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    // another process wrote it first: read that one
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw new PolicyFileError(`cannot write the default policy ${file} (${(error as NodeJS.ErrnoException).code ?? (error as Error).message})`, 'user');
  }
}

export type ModeSource = '--approval-mode' | typeof MODE_ENV | 'policy' | 'default';

export class ApprovalModeError extends Error {}

/** --approval-mode, else CLAUDEMESH_APPROVAL_MODE, else the user policy's mode:, else write. */
export function resolveMode(flag: string | undefined, env: NodeJS.ProcessEnv, user: Policy | null): { mode: ApprovalMode; source: ModeSource } {
  if (flag !== undefined) {
    if (!isApprovalMode(flag)) throw new ApprovalModeError(`--approval-mode must be ${APPROVAL_MODES.join(', ')} (got "${flag}")`);
    return { mode: flag, source: '--approval-mode' };
  }
  const fromEnv = env[MODE_ENV];
  if (fromEnv) {
    if (!isApprovalMode(fromEnv)) throw new ApprovalModeError(`${MODE_ENV} must be ${APPROVAL_MODES.join(', ')} (got "${fromEnv}")`);
    return { mode: fromEnv, source: MODE_ENV };
  }
  if (user?.mode) return { mode: user.mode, source: 'policy' };
  return { mode: DEFAULT_MODE, source: 'default' };
}
