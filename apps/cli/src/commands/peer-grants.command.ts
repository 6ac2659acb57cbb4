import { SubCommand } from 'nest-commander';
import { MeshVerb, type CommonOptions } from '../context.js';

/** Placeholder: grants (issue 5 item 1). */
@SubCommand({ name: 'grants', description: 'What each peer may do to you' })
export class PeerGrantsCommand extends MeshVerb {
  async run(_args: string[], _options: CommonOptions): Promise<void> {
    throw new Error('not built yet');
  }
}
