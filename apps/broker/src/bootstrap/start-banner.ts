import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Bootstrap } from './first-mesh.js';

/** Quotes one word for a POSIX shell, so a printed command can be pasted as is. */
const sh = (word: string): string => (/^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`);

/** How the owner runs the CLI: with this broker's CLAUDEMESH_HOME, unless that is the default one. */
function ownerCli(home: string): string {
  const isDefault = resolve(home) === resolve(join(homedir(), '.claudemesh'));
  return `${isDefault ? '' : `CLAUDEMESH_HOME=${sh(home)} `}claudemesh`;
}

/**
 * What `npm start` prints about the bootstrap mesh. An invite only on the start that created it;
 * later starts say how the owner gets one, so restarts put no secret into a service manager's log.
 */
export function bootstrapLines(result: Bootstrap, home: string, webUrl: string | null = null): string[] {
  if (result.kind === 'foreign') {
    return [
      `meshes exist on this broker whose owner keys are not under ${home}; their owners invite with: claudemesh mesh invite`,
      ...(webUrl ? [`web app: ${webUrl}/ (members sign in with: claudemesh web)`] : []),
    ];
  }
  const { mesh } = result;
  const web = webUrl
    ? [
        `web app: ${webUrl}/ — a one-time sign-in link for a person in the browser, with a key of its own there (end-to-end encrypted topics open):`,
        `  ${ownerCli(home)} web --human <your-name> --mesh ${sh(mesh.mesh_name)}`,
      ]
    : [];
  const keys = `${home}/meshes/${mesh.mesh_id}.json`;
  const more = `${ownerCli(home)} mesh invite --mesh ${sh(mesh.mesh_name)}`;
  if (result.kind === 'existing') {
    return [
      `mesh "${mesh.mesh_name}" (${mesh.mesh_id}); owner key and mesh key: ${keys}`,
      'no invite is printed after the first start; the owner issues one (a short link and the join command) with:',
      `  ${more}`,
      `  (claudemesh mesh invite list shows the open ones, claudemesh mesh invite revoke <id> closes one)`,
      ...web,
    ];
  }
  const { invite } = result;
  return [
    `created "${mesh.mesh_name}" (${mesh.mesh_id}); owner key and mesh key: ${keys}`,
    `invite (${invite.maxUses} uses, expires ${new Date(invite.expiresAt).toISOString()}; printed on this first start only):`,
    `  ${invite.shortLink}   (short code; the mesh key stays wrapped under it)`,
    ...(invite.v1Link ? [`  ${invite.v1Link}   (v1 link: carries the mesh key itself; BOOTSTRAP_V1_LINK=on)`] : []),
    'a peer joins with (claudemesh on PATH: run npx claudemesh install once in a claudemesh checkout):',
    `  claudemesh join '${invite.shortLink}' --name <their-name>`,
    '  (or `claudemesh <link>` to join and start Claude Code with the channel)',
    `more invites later, as the owner: ${more}`,
    ...web,
  ];
}
