/** What an email invite says: the mesh, who invites, the link and code, when it expires, the command to run. */
export interface InviteMailFields {
  meshName: string;
  inviterName: string;
  /** `<broker>/e/<code>?issuer=<key>`. */
  link: string;
  /** `E-XXXX-XXXX-XXXX-XXXX`. */
  code: string;
  brokerOrigin: string;
  expiresAt: number;
  /** The display name the inviter suggested for the joiner. */
  suggestedName?: string | undefined;
}

const ESCAPES: Record<string, string> = { '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' };
/** Every value put into the HTML goes through this: a mesh name is chosen by its owner, not by us. */
export const escapeHtml = (s: string): string => s.replace(/[&<>"']/g, (c) => ESCAPES[c]!);

const when = (ms: number): string => new Date(ms).toISOString().replace('T', ' ').replace(/:\d\d\.\d+Z$/, ' UTC');

export function renderInviteMail(f: InviteMailFields): { subject: string; text: string; html: string } {
  const name = f.suggestedName ?? '<your-name>';
  const joinCommand = `claudemesh join '${f.link}' --name ${name}`;
  const codeCommand = `claudemesh join ${f.code} --broker ${f.brokerOrigin} --name ${name}`;
  const subject = `${f.inviterName} invited you to the claudemesh mesh "${f.meshName}"`;
  const text = [
    `${f.inviterName} invited you to join the claudemesh mesh "${f.meshName}".`,
    '',
    'Run this in a terminal with the claudemesh CLI installed:',
    '',
    `  ${joinCommand}`,
    '',
    `Or type the code: ${codeCommand}`,
    '',
    `Link: ${f.link}`,
    `Code: ${f.code}`,
    `Expires: ${when(f.expiresAt)} (it admits one member, once).`,
    '',
    `The invite admits you to the mesh; ${f.inviterName}'s own claudemesh then hands you the mesh key, sealed to your key.`,
    'The command waits for it. If you did not expect this invite, ignore this message.',
    '',
  ].join('\n');
  const e = escapeHtml;
  const html = `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>${e(subject)}</title></head>
<body style="font:15px/1.5 system-ui,sans-serif;max-width:40rem;margin:2rem auto;padding:0 1rem;color:#222">
<p><strong>${e(f.inviterName)}</strong> invited you to join the claudemesh mesh <strong>${e(f.meshName)}</strong>.</p>
<p>Run this in a terminal with the claudemesh CLI installed:</p>
<pre style="background:#f3f3f3;padding:.6rem;border-radius:4px;white-space:pre-wrap;word-break:break-all">${e(joinCommand)}</pre>
<p>Or type the code: <code>${e(codeCommand)}</code></p>
<p>Link: <a href="${e(f.link)}">${e(f.link)}</a><br>Code: <code>${e(f.code)}</code><br>Expires: ${e(when(f.expiresAt))} (it admits one member, once).</p>
<p style="color:#555">The invite admits you to the mesh; ${e(f.inviterName)}'s own claudemesh then hands you the mesh key, sealed to your key. The command waits for it. If you did not expect this invite, ignore this message.</p>
</body></html>
`;
  return { subject, text, html };
}
