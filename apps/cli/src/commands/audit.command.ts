import { Command, CommandRunner } from 'nest-commander';

/** Placeholder: owned by the policy/audit work (issue 5 item 2). */
@Command({ name: 'audit', description: 'The local audit log of policy decisions' })
export class AuditCommand extends CommandRunner {
  async run(): Promise<void> {
    this.command.help();
  }
}
