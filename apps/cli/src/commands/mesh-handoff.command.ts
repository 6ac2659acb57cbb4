import { SubCommand } from 'nest-commander';
import { MeshVerb, type CommonOptions } from '../context.js';

/** Placeholder: owned by the email-invite work (issue 5 item 8). */
@SubCommand({ name: 'handoff', description: 'Hand the mesh key to members admitted by an email invite' })
export class MeshHandoffCommand extends MeshVerb {
  async run(_args: string[], _options: CommonOptions): Promise<void> {
    throw new Error('not built yet');
  }
}
