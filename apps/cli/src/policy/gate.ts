import { EXIT } from '../exit-codes.js';
import { appendAudit } from './audit-log.js';
import { ApprovalModeError, loadPolicies, MODE_ENV, PolicyFileError, resolveMode, userPolicyFile, type ModeSource } from './policy-file.js';
import { confirm } from './prompt.js';
import { describeBecause, evaluate, type ApprovalMode, type Evaluation, type GateRequest } from './rules.js';
import { gatedVerb } from './verbs.js';
import { safeLine } from '../terminal-text.js';

/**
 * The gate every broker-touching verb passes (command tree, fast path, MCP tools): load the
 * policies, evaluate, ask if a prompt is due and someone can answer, append the decision to the
 * audit log, and say what to do about a refusal. Anything that goes wrong refuses the verb.
 */
export interface GateContext {
  home: string;
  env: NodeJS.ProcessEnv;
  source: 'cli' | 'fast' | 'mcp';
  /** --policy */
  policyPath?: string | undefined;
  /** --approval-mode, unchecked */
  approvalMode?: string | undefined;
  /** Someone can be asked on this terminal. */
  tty: boolean;
  /** The verb's own confirmation flag (mesh leave's -y), when it has one; `yes` says it was given. */
  confirmFlag?: string | undefined;
  yes?: boolean | undefined;
  json?: boolean | undefined;
  /** Injected by tests; defaults to a y/N question on the terminal. */
  ask?: (question: string) => Promise<boolean>;
}

export type GateVerdict =
  | { outcome: 'allow' }
  /** Refused, or (plan) not run. `stdout` is the plan's report; `message` goes to stderr. */
  | { outcome: 'deny' | 'plan'; exitCode: number; message: string; stdout?: string };

/** "message send bob in mesh "team"": the verb as typed, its targets, where. */
export function describeAction(r: GateRequest): string {
  const { cli } = gatedVerb(r.resource, r.verb);
  return `${cli}${r.peers.length ? ` ${r.peers.join(' ')}` : ''}${r.mesh ? ` in mesh "${r.mesh.name}"` : ''}`;
}

const yamlScalar = (s: string): string => (/^[A-Za-z0-9_.@-]+$/.test(s) && !/^(true|false|null|~|[0-9.]+)$/i.test(s) ? s : JSON.stringify(s));

/** The rule a user would add to allow exactly this. */
function allowRule(r: GateRequest): string {
  return `- { resource: ${r.resource}, verb: ${r.verb}${r.mesh ? `, mesh: ${yamlScalar(r.mesh.name)}` : ''}, decision: allow }`;
}

const modeFrom = (source: ModeSource, policyFile: string): string =>
  source === 'policy' ? `mode: in ${policyFile}` : source === 'default' ? 'the default' : source;

function modeHint(source: ModeSource, policyFile: string, to: ApprovalMode): string {
  if (source === '--approval-mode') return `run it with --approval-mode ${to}`;
  if (source === MODE_ENV) return `unset ${MODE_ENV} (or run it with --approval-mode ${to})`;
  return `run it with --approval-mode ${to} (or set mode: ${to} in ${policyFile})`;
}

interface Decided {
  verdict: GateVerdict;
  prompt: string | null;
}

async function decide(r: GateRequest, ev: Evaluation, mode: ApprovalMode, source: ModeSource, policyFile: string, c: GateContext): Promise<Decided> {
  // The mesh name came from a broker and the peers from the command line: both reach the terminal here.
  const action = safeLine(describeAction(r));
  const why = describeBecause(ev.because);
  if (ev.decision === 'allow') return { verdict: { outcome: 'allow' }, prompt: null };
  if (ev.decision === 'plan') {
    const would = ev.would === 'allow' ? 'would run' : 'would ask for confirmation first';
    const report = { plan: true, resource: r.resource, verb: r.verb, kind: ev.kind, mesh: r.mesh?.name ?? null, mesh_id: r.mesh?.id ?? null, peers: r.peers, would: ev.would, rule: why };
    const text = `plan: ${action} ${would} (a ${ev.kind}; ${why})`;
    return {
      verdict: { outcome: 'plan', exitCode: EXIT.planned, stdout: c.json ? `${JSON.stringify(report)}\n` : `${text}\n`, message: `approval mode plan (from ${modeFrom(source, policyFile)}): nothing was run\n  next: to run it, ${modeHint(source, policyFile, 'write')}` },
      prompt: null,
    };
  }
  if (ev.decision === 'deny') {
    if (ev.because.by === 'mode') {
      return { verdict: { outcome: 'deny', exitCode: EXIT.denied, message: `policy: ${action} is a ${ev.kind}, and approval mode read-only (from ${modeFrom(source, policyFile)}) runs reads only\n  next: ${modeHint(source, policyFile, 'write')}` }, prompt: null };
    }
    const next =
      ev.because.by === 'rule' && ev.because.origin === 'admin'
        ? `only whoever administers this machine can change ${ev.because.file}; no flag or approval mode overrides it`
        : ev.because.by === 'rule'
          ? `to allow it, change that rule or put one above it in ${ev.because.file}: ${allowRule(r)}`
          : `add to ${policyFile}: ${allowRule(r)}`;
    return { verdict: { outcome: 'deny', exitCode: EXIT.denied, message: `policy: ${action} is denied by ${why}\n  next: ${next}` }, prompt: null };
  }
  // prompt
  if (c.yes && !ev.adminPrompt) return { verdict: { outcome: 'allow' }, prompt: c.confirmFlag ?? '--yes' };
  if (c.tty) {
    const yes = await (c.ask ?? confirm)(`claudemesh: ${action} is ${ev.kind === 'destructive' ? 'destructive' : `a ${ev.kind}`} and ${why} asks first. Run it?`);
    if (yes) return { verdict: { outcome: 'allow' }, prompt: 'yes' };
    return { verdict: { outcome: 'deny', exitCode: EXIT.denied, message: `not confirmed: ${action} was not run` }, prompt: 'no' };
  }
  const ways = ev.adminPrompt
    ? `run it from a terminal and answer y; the admin policy's prompts are not lifted by --yes or --approval-mode yolo`
    : [
        ...(c.confirmFlag ? [`re-run with ${c.confirmFlag} to confirm`] : []),
        `run it with --approval-mode yolo`,
        `allow it in ${ev.because.by === 'rule' ? ev.because.file : policyFile}${ev.because.by === 'rule' ? ` (above rule ${ev.because.rule.index})` : ''}: ${allowRule(r)}`,
      ].join(', or ');
  // A verb with its own -y keeps the usage error it always had for a missing -y (exit 2).
  const exitCode = c.confirmFlag && !ev.adminPrompt ? EXIT.usage : EXIT.denied;
  return { verdict: { outcome: 'deny', exitCode, message: `policy: ${action} asks for confirmation (${why}) and there is no terminal to ask on\n  next: ${ways}` }, prompt: 'no-tty' };
}

function audit(c: GateContext, r: GateRequest, kind: string, mode: string, decision: 'allow' | 'deny' | 'plan', rule: string, prompt: string | null): GateVerdict | null {
  try {
    appendAudit(c.home, { ts: new Date().toISOString(), source: c.source, pid: process.pid, resource: r.resource, verb: r.verb, kind, mesh: r.mesh?.name ?? null, mesh_id: r.mesh?.id ?? null, peers: r.peers, mode, decision, rule, prompt });
    return null;
  } catch (error) {
    return { outcome: 'deny', exitCode: EXIT.failure, message: `cannot append to the audit log in ${c.home} (${(error as Error).message}); nothing was run\n  next: check that ${c.home} is writable, then retry` };
  }
}

export async function enforce(r: GateRequest, c: GateContext): Promise<GateVerdict> {
  const { kind } = gatedVerb(r.resource, r.verb);
  const policyFile = userPolicyFile(c).file;
  let loaded;
  let mode: ApprovalMode;
  let source: ModeSource;
  try {
    loaded = await loadPolicies(c);
    ({ mode, source } = resolveMode(c.approvalMode, c.env, loaded.user));
  } catch (error) {
    if (!(error instanceof PolicyFileError || error instanceof ApprovalModeError)) throw error;
    const admin = error instanceof PolicyFileError && error.origin === 'admin';
    const verdict: GateVerdict = {
      outcome: 'deny',
      exitCode: admin ? EXIT.denied : EXIT.usage,
      message: admin
        ? `policy: the admin policy is unusable, so every gated verb is refused: ${error.message}\n  next: ask whoever administers this machine to fix it`
        : `policy: ${error.message}; nothing was run\n  next: ${error instanceof ApprovalModeError ? 'pass one of those' : `fix the file (or move it aside: a fresh default is written at ${policyFile} on next use)`}`,
    };
    return audit(c, r, kind, c.approvalMode ?? c.env[MODE_ENV] ?? '?', 'deny', `unusable policy: ${error.message}`, null) ?? verdict;
  }
  const ev = evaluate(r, loaded.policies, mode);
  const { verdict, prompt } = await decide(r, ev, mode, source, loaded.user.file, c);
  const rule = ev.decision === 'plan' ? `${describeBecause(ev.because)} (would ${ev.would})` : describeBecause(ev.because);
  return audit(c, r, ev.kind, mode, verdict.outcome, rule, prompt) ?? verdict;
}
