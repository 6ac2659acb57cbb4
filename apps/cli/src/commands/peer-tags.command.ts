import { claudemeshHome, type StoredMesh } from '@claudemesh/core';
import { CommandRunner, SubCommand } from 'nest-commander';
import { CliError, EXIT, MeshVerb, print, selectMesh, type CommonOptions } from '../context.js';
import { DaemonCallError, ensureDaemon } from '../daemon/client.js';
import { Gated } from '../gated.js';
import { columns } from '../table.js';
import { safeLine } from '../terminal-text.js';
import { addTags, parseTags, removeTags, setRepoTag, TagEditError } from '../tags/edit.js';
import { repoTagDisabledByEnv } from '../tags/repo-tag.js';
import { tagView, type TagView } from '../tags/session-tags.js';
import { TagFileError } from '../tags/tag-file.js';

/**
 * `peer tag add|remove|list|repo`: the tags this member's long-lived sessions advertise for tag
 * routing (docs/protocol.md §5.7, docs/cli.md "Tags"). Kept per mesh in tags.json; the daemon's
 * session and every push-pipe session advertise them, a push-pipe adds `repo:<name>` from the git
 * remote of its workspace.
 */

/** What the daemon did with a change: its session carries the tags now, will once connected, or there is no daemon to tell. */
type DaemonOutcome = 'advertised' | 'pending' | 'off' | 'outdated';

interface TagAnswer extends TagView {
  mesh_id: string;
  mesh_name: string;
}

function answerOf(mesh: StoredMesh, home: string): TagAnswer {
  return { mesh_id: mesh.mesh_id, mesh_name: mesh.mesh_name, ...tagView(home, mesh.mesh_id, process.cwd()) };
}

/** Tag file and edit errors as CLI errors with their exit codes. */
function asCli<T>(work: () => T): T {
  try {
    return work();
  } catch (error) {
    if (error instanceof TagEditError) throw new CliError(error.message, error.exitCode);
    if (error instanceof TagFileError) throw new CliError(error.message, EXIT.failure);
    throw error;
  }
}

/** Tells the daemon (started if need be, as other verbs do) to advertise what tags.json holds now. */
async function tellDaemon(mesh: StoredMesh, home: string): Promise<{ outcome: DaemonOutcome; note: string }> {
  const daemon = await ensureDaemon(home);
  if (!daemon) return { outcome: 'off', note: 'no daemon runs (CLAUDEMESH_DAEMON=off or it cannot start); Claude sessions (claudemesh mcp) pick the change up within seconds' };
  try {
    const r = (await daemon.call('tags', { mesh_id: mesh.mesh_id })) as { advertised: boolean; state: string; cause?: string };
    if (r.advertised) return { outcome: 'advertised', note: 'advertised now by the daemon’s session; Claude sessions (claudemesh mcp) pick the change up within seconds' };
    return { outcome: 'pending', note: `kept; the daemon’s session is ${r.state}${r.cause ? ` (${r.cause})` : ''} and advertises them once connected` };
  } catch (error) {
    if (error instanceof DaemonCallError && error.body.exit_code === EXIT.usage && /bad daemon request/.test(error.body.message)) {
      return { outcome: 'outdated', note: 'kept; the running daemon predates tags: restart it to advertise them (claudemesh daemon stop; the next verb starts it again)' };
    }
    if (error instanceof DaemonCallError) return { outcome: 'pending', note: `kept; the daemon did not advertise them yet: ${error.message}` };
    throw error;
  } finally {
    daemon.close();
  }
}

function tagLines(a: TagAnswer): string {
  const lines: string[] = [];
  if (a.tags.length === 0) lines.push(`no tags in ${a.mesh_name}; add one: claudemesh peer tag add role:reviewer`);
  else lines.push(columns([['TAG', 'SOURCE'], ...a.tags.map((t) => [t.tag, t.derived ? `derived from the git remote of ${t.from}` : 'added'])]));
  if (!a.repo_tag) {
    lines.push(repoTagDisabledByEnv() ? 'repo: tags are not derived here (CLAUDEMESH_REPO_TAG=off)' : `repo: tags are not derived in ${a.mesh_name} (turn it back on: claudemesh peer tag repo on)`);
  }
  return lines.join('\n');
}

function changed(verb: string, tags: string[]): string {
  return tags.length > 0 ? `${verb} ${tags.join(', ')}` : `nothing ${verb}`;
}

/** `peer tag add <tag…>`: your sessions advertise these from now on. */
@Gated({ resource: 'tag', verb: 'add' })
@SubCommand({ name: 'add', arguments: '<tags...>', description: 'Advertise tags on your sessions (e.g. role:reviewer): tag:<tag> sends reach you' })
export class PeerTagAddCommand extends MeshVerb {
  async run(words: string[], options: CommonOptions): Promise<void> {
    const tags = asCli(() => parseTags(words));
    const mesh = selectMesh(options.mesh);
    const home = claudemeshHome();
    const added = asCli(() => addTags(home, mesh.mesh_id, tags));
    const daemon = await tellDaemon(mesh, home);
    const a = asCli(() => answerOf(mesh, home));
    print(options.json ?? false, { ...a, changed: added, daemon: daemon.outcome }, `${changed('added', added)}\n${tagLines(a)}\n${daemon.note}`);
  }
}

/** `peer tag remove <tag…>`: your sessions stop advertising these. */
@Gated({ resource: 'tag', verb: 'remove' })
@SubCommand({ name: 'remove', aliases: ['rm'], arguments: '<tags...>', description: 'Stop advertising tags on your sessions' })
export class PeerTagRemoveCommand extends MeshVerb {
  async run(words: string[], options: CommonOptions): Promise<void> {
    const tags = asCli(() => parseTags(words));
    const mesh = selectMesh(options.mesh);
    const home = claudemeshHome();
    const removed = asCli(() => removeTags(home, mesh.mesh_id, tags, process.cwd()));
    const daemon = await tellDaemon(mesh, home);
    const a = asCli(() => answerOf(mesh, home));
    print(options.json ?? false, { ...a, changed: removed, daemon: daemon.outcome }, `${changed('removed', removed)}\n${tagLines(a)}\n${daemon.note}`);
  }
}

/** `peer tag list`: the tags kept for the mesh, and the one derived from this folder's git remote. */
@Gated({ resource: 'tag', verb: 'list' })
@SubCommand({ name: 'list', aliases: ['ls'], description: 'Your tags: those you added, and repo:<name> derived from the git remote here' })
export class PeerTagListCommand extends MeshVerb {
  async run(_args: string[], options: CommonOptions): Promise<void> {
    const mesh = selectMesh(options.mesh);
    const a = asCli(() => answerOf(mesh, claudemeshHome()));
    print(options.json ?? false, a, tagLines(a));
  }
}

/** `peer tag repo on|off`: whether sessions started in a git work tree add `repo:<name>`. */
@Gated({ resource: 'tag', verb: 'repo' })
@SubCommand({ name: 'repo', arguments: '<on|off>', description: 'Whether sessions started in a git work tree advertise repo:<name> from its remote (default on)' })
export class PeerTagRepoCommand extends MeshVerb {
  async run([value]: string[], options: CommonOptions): Promise<void> {
    if (value !== 'on' && value !== 'off') throw new CliError(`say on or off (got "${safeLine(value ?? '')}")`, EXIT.usage);
    const mesh = selectMesh(options.mesh);
    const home = claudemeshHome();
    asCli(() => setRepoTag(home, mesh.mesh_id, value === 'on'));
    const a = asCli(() => answerOf(mesh, home));
    const note = 'Claude sessions (claudemesh mcp) pick the change up within seconds';
    print(options.json ?? false, a, `repo: tags ${value === 'on' ? 'derived' : 'not derived'} in ${a.mesh_name}\n${tagLines(a)}\n${note}`);
  }
}

@SubCommand({ name: 'tag', description: 'Tags your sessions advertise for tag:<tag> sends (add, remove, list, repo)', subCommands: [PeerTagAddCommand, PeerTagRemoveCommand, PeerTagListCommand, PeerTagRepoCommand] })
export class PeerTagCommand extends CommandRunner {
  async run(): Promise<void> {
    this.command.help();
  }
}
