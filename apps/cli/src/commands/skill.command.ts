import { Command, CommandRunner } from 'nest-commander';
import { skillMarkdown } from '../claude/skill-text.js';
import { fromCommander } from '../completions/index.js';
import { CliError } from '../context.js';

/** `skill`: the Claude Code skill generated from this CLI's command tree (what `install` writes). */
@Command({ name: 'skill', description: 'Print the Claude Code skill (SKILL.md) generated from this CLI, as claudemesh install writes it' })
export class SkillCommand extends CommandRunner {
  async run(): Promise<void> {
    const root = this.command.parent;
    if (!root) throw new CliError('skill: no command tree above this verb');
    process.stdout.write(skillMarkdown(fromCommander(root)));
  }
}
