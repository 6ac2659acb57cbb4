import { claudemeshHome, loadMeshes } from '@claudemesh/core';
import { cryptoReady } from '@claudemesh/crypto';
import { SubCommand } from 'nest-commander';
import { CliError, EXIT, MeshVerb, print, selectMesh, type CommonOptions } from '../context.js';
import { answerKeyRequests, canHandOver, type HandoffOutcome } from '../handoff.js';
import { Gated } from '../gated.js';

/**
 * `mesh handoff`: hands the mesh key to every member admitted by one of your email invites that is
 * still waiting for it (docs/protocol.md §9c), in every mesh where you are owner or admin — or in the
 * one --mesh names. A running daemon does the same every 30 s.
 */
@Gated({ resource: 'mesh', verb: 'handoff' })
@SubCommand({ name: 'handoff', description: 'Hand the mesh key to members admitted by your email invites (a running daemon does this by itself)' })
export class MeshHandoffCommand extends MeshVerb {
  async run(_args: string[], options: CommonOptions): Promise<void> {
    await cryptoReady();
    const meshes = options.mesh ? [selectMesh(options.mesh)] : loadMeshes(claudemeshHome()).filter(canHandOver);
    if (options.mesh && !canHandOver(meshes[0]!)) {
      throw new CliError(`you cannot hand over the key of "${meshes[0]!.mesh_name}": that needs the owner or an admin holding the mesh key`, EXIT.failure);
    }
    const outcomes: HandoffOutcome[] = [];
    for (const mesh of meshes) {
      try {
        outcomes.push(...(await answerKeyRequests(mesh)));
      } catch (error) {
        throw new CliError(`cannot list the key requests of "${mesh.mesh_name}" at ${mesh.broker_url}: ${(error as Error).message}; check the broker runs (claudemesh doctor)`, EXIT.unreachable);
      }
    }
    const failed = outcomes.filter((o) => o.status === 'failed');
    if (failed.length > 0) process.exitCode = EXIT.failure;
    const line = (o: HandoffOutcome): string =>
      `${o.status === 'handed-over' ? 'handed the key of' : o.status === 'skipped' ? 'skipped' : 'FAILED'} "${o.mesh_name}" to ${o.display_name} <${o.email}>${o.reason ? ` (${o.reason})` : ''}`;
    print(
      options.json ?? false,
      outcomes,
      outcomes.length === 0 ? `no member is waiting for a mesh key (${meshes.length} mesh${meshes.length === 1 ? '' : 'es'} checked)` : outcomes.map(line).join('\n'),
    );
  }
}
