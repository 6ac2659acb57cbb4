import { SubCommand } from 'nest-commander';
import { print, selectMesh } from '../context.js';
import { InviteVerb, issueMeshInvite, type InviteOptions } from '../invite-issue.js';
import { Gated } from '../gated.js';

/** How the QR code is drawn: half-block characters, two module rows per text line. */
const QR_OPTIONS = { type: 'terminal', small: true } as const;

/**
 * `mesh share`: issues an invite exactly as `mesh invite` does (same flags, same broker record),
 * then shows the link as a QR code in the terminal, for a phone or a second machine's camera.
 */
@Gated({ resource: 'mesh', verb: 'share' })
@SubCommand({ name: 'share', description: 'Issue an invite (as mesh invite) and show its link as a QR code in the terminal' })
export class MeshShareCommand extends InviteVerb {
  async run(_args: string[], options: InviteOptions): Promise<void> {
    const issued = await issueMeshInvite(selectMesh(options.mesh), options);
    // loaded here, not with the command tree: only this verb pays for the QR encoder
    const { default: QRCode } = await import('qrcode');
    const qr = await QRCode.toString(issued.link, QR_OPTIONS);
    print(options.json ?? false, { ...issued.json, qr }, `${issued.text}\nor scan the link:\n${qr}`);
  }
}
