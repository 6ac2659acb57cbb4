import { claudemeshHome } from '@claudemesh/core';
import { Command, CommandRunner, Option, SubCommand } from 'nest-commander';
import { CliError, EXIT, print } from '../context.js';
import { auditPaths, readAudit, verifyAudit, type AuditEntry } from '../policy/audit-log.js';

interface VerifyOptions {
  json?: boolean;
  anchor?: string;
}

/**
 * `audit verify [--anchor <hash>]`: recomputes every line's hash and link and compares the end of
 * the log with audit.log.head; exit 1 naming each broken line. `--anchor` also proves that an entry
 * whose hash you wrote down earlier is still in the chain.
 */
@SubCommand({ name: 'verify', description: 'Check the audit log: every line unedited, none deleted, moved or cut off the end' })
export class AuditVerifyCommand extends CommandRunner {
  async run(_args: string[], options: VerifyOptions): Promise<void> {
    const home = claudemeshHome();
    const result = verifyAudit(home, options.anchor !== undefined ? { anchor: options.anchor } : {});
    const { log } = auditPaths(home);
    if (result.ok) {
      print(
        options.json ?? false,
        { ok: true, file: log, entries: result.entries, last_hash: result.last, notes: result.notes },
        [
          `audit log ok: ${result.entries} entr${result.entries === 1 ? 'y' : 'ies'} in ${log}, each chained to the one before`,
          ...result.notes.map((n) => `note: ${n}`),
          ...(result.entries > 0 ? [`last hash ${result.last}`, 'keep it somewhere else: claudemesh audit verify --anchor <that hash> later proves nothing before it was rewritten'] : []),
        ].join('\n'),
      );
      return;
    }
    if (options.json) process.stdout.write(`${JSON.stringify({ ok: false, file: log, entries: result.entries, problems: result.problems, notes: result.notes })}\n`);
    else for (const p of result.problems) process.stdout.write(`${p.line === null ? 'log' : `line ${p.line}`}: ${p.what}\n`);
    throw new CliError(
      `the audit log ${log} fails verification (${result.problems.length} problem${result.problems.length === 1 ? '' : 's'}: it was edited, cut or reordered after it was written)\n  next: keep a copy of it as evidence; claudemesh audit show lists what it holds`,
      EXIT.failure,
    );
  }

  @Option({ flags: '--anchor <hash>', description: 'a hash printed by an earlier verify: fail unless that entry is still in the chain' })
  parseAnchor(value: string): string {
    if (!/^[0-9a-f]{64}$/.test(value)) throw new CliError('--anchor wants the 64 hex digits audit verify printed', EXIT.usage);
    return value;
  }

  @Option({ flags: '--json', description: 'machine-readable output' })
  parseJson(): boolean {
    return true;
  }
}

interface ShowOptions {
  json?: boolean;
  limit?: number;
}

function entryText(e: AuditEntry): string {
  const what = `${e.resource} ${e.verb}${e.peers.length ? ` ${e.peers.join(' ')}` : ''}`;
  const prompt = e.prompt ? `, prompt: ${e.prompt}` : '';
  return `${e.ts}  ${e.decision.padEnd(5)} ${what.padEnd(28)} ${(e.mesh ?? '-').padEnd(14)} ${e.source.padEnd(4)} mode ${e.mode}${prompt}; ${e.rule}`;
}

/** `audit show [--limit n]`: the latest decisions, oldest first (--json: the raw NDJSON lines). */
@SubCommand({ name: 'show', aliases: ['tail'], description: 'The latest policy decisions (default 20)' })
export class AuditShowCommand extends CommandRunner {
  async run(_args: string[], options: ShowOptions): Promise<void> {
    const entries = readAudit(claudemeshHome()).slice(-(options.limit ?? 20));
    if (options.json) {
      for (const e of entries) process.stdout.write(`${JSON.stringify(e)}\n`);
      return;
    }
    process.stdout.write(entries.length === 0 ? '(no decision recorded yet: the audit log fills as gated verbs run)\n' : `${entries.map(entryText).join('\n')}\n`);
  }

  @Option({ flags: '-n, --limit <n>', description: 'how many of the latest entries' })
  parseLimit(value: string): number {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) throw new CliError('--limit wants a whole number from 1', EXIT.usage);
    return n;
  }

  @Option({ flags: '--json', description: 'one JSON object per line, as stored' })
  parseJson(): boolean {
    return true;
  }
}

@Command({ name: 'audit', description: 'The local audit log of policy decisions: show, verify', subCommands: [AuditShowCommand, AuditVerifyCommand] })
export class AuditCommand extends CommandRunner {
  async run(): Promise<void> {
    this.command.help();
  }
}
