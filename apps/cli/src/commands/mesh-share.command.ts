import { SubCommand } from 'nest-commander';
import { print, selectMesh } from '../context.js';
import { InviteVerb, issueMeshInvite, type InviteOptions } from '../invite-issue.js';
import { Gated } from '../gated.js';
import { qrText, stdoutIsTerminal } from '../qr-text.js';
import { safeText } from '../terminal-text.js';

/**
 * `mesh share`: issues an invite exactly as `mesh invite` does (same flags, same broker record),
 * then shows the link as a QR code in the terminal, for a phone or a second machine's camera:
 * coloured on a terminal, plain block characters when piped and in `--json`.
 */
@Gated({ resource: 'mesh', verb: 'share' })
@SubCommand({ name: 'share', description: 'Issue an invite (as mesh invite) and show its link as a QR code in the terminal' })
export class MeshShareCommand extends InviteVerb {
  async run(_args: string[], options: InviteOptions): Promise<void> {
    const issued = await issueMeshInvite(selectMesh(options.mesh), options);
    if (options.json) return print(true, { ...issued.json, qr: await qrText(issued.link, false) }, '');
    // The QR's own colour escapes (on a terminal only) are the one thing not passed through safeText.
    process.stdout.write(`${safeText(`${issued.text}\nor scan the link:`)}\n${await qrText(issued.link, stdoutIsTerminal())}\n`);
  }
}
