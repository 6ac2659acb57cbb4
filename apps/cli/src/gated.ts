import { claudemeshHome } from '@claudemesh/core';
import { Option } from 'nest-commander';
import { CliError } from './context.js';
import { enforce } from './policy/gate.js';
import { meshRef } from './policy/mesh-ref.js';
import { hasTerminal } from './policy/prompt.js';
import { APPROVAL_MODES } from './policy/rules.js';

/** The options every gated verb takes (added by @Gated), next to its own. */
export interface GateOptions {
  policy?: string;
  approvalMode?: string;
  mesh?: string;
  json?: boolean;
  yes?: boolean;
}

type Args = string[];

export interface GatedSpec<O> {
  resource: string;
  /** The verb as the policy names it; a function when flags change it (inbox --read is `message read`). */
  verb: string | ((args: Args, options: O) => string);
  /** The mesh selector; default --mesh. null: the verb names no mesh yet (join). */
  mesh?: (args: Args, options: O) => string | undefined | null;
  /** The targets (names, keys, @group, *); default none. */
  peers?: (args: Args, options: O) => Array<string | undefined>;
  /** The verb has -y/--yes: it answers a prompt, and a "y" on the terminal sets it. */
  confirm?: boolean;
}

const GATED = Symbol('claudemesh.gated');

const meshOf = (home: string, selector: string | undefined | null) => (selector === null ? null : meshRef(home, selector));

function addOption(proto: object, name: string, flags: string, description: string): void {
  if (Object.prototype.hasOwnProperty.call(proto, name)) return;
  const parse = (value: string): string => value;
  Object.defineProperty(proto, name, { value: parse, writable: true, configurable: true });
  Option({ flags, description })(proto, name, { value: parse });
}

/**
 * Puts a command behind the policy gate (apps/cli/src/policy): its `run` first asks the gate, which
 * may refuse (exit 6), plan (exit 7), ask on the terminal, and always appends to the audit log.
 * Adds --policy and --approval-mode to the command. Subclasses (the flat aliases) inherit it.
 *
 *   @Gated({ resource: 'message', verb: 'send', peers: ([to]) => [to] })
 */
export function Gated<O extends GateOptions = GateOptions>(spec: GatedSpec<O>): ClassDecorator {
  return (target) => {
    const proto = target.prototype as { run: (args: Args, options?: O) => Promise<void>; [GATED]?: true };
    if (Object.prototype.hasOwnProperty.call(proto, GATED)) throw new Error(`${target.name} is gated twice`);
    const run = proto.run;
    proto.run = async function gatedRun(this: unknown, args: Args, options: O = {} as O): Promise<void> {
      const home = claudemeshHome();
      const verdict = await enforce(
        {
          resource: spec.resource,
          verb: typeof spec.verb === 'function' ? spec.verb(args, options) : spec.verb,
          mesh: meshOf(home, spec.mesh ? spec.mesh(args, options) : options.mesh),
          peers: (spec.peers?.(args, options) ?? []).filter((p): p is string => typeof p === 'string' && p !== ''),
        },
        {
          home,
          env: process.env,
          source: 'cli',
          policyPath: options.policy,
          approvalMode: options.approvalMode,
          tty: hasTerminal(),
          confirmFlag: spec.confirm ? '-y' : undefined,
          yes: spec.confirm ? options.yes === true : undefined,
          json: options.json,
        },
      );
      if (verdict.outcome !== 'allow') {
        if (verdict.stdout) process.stdout.write(verdict.stdout);
        throw new CliError(verdict.message, verdict.exitCode);
      }
      // Allowed means the confirmation is settled (a rule allowed it, yolo, a y on the terminal, or
      // -y itself): the verb's own -y check must not ask again.
      return run.call(this, args, spec.confirm ? { ...options, yes: true } : options);
    };
    proto[GATED] = true;
    addOption(proto, 'parsePolicy', '--policy <path>', 'the policy file to check this verb against (default $CLAUDEMESH_HOME/policy.yaml)');
    addOption(proto, 'parseApprovalMode', '--approval-mode <mode>', `${APPROVAL_MODES.join(' | ')} (default: the policy's mode:, else write)`);
  };
}
