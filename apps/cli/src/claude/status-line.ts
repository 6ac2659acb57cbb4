import { claudemeshHome, findMesh, loadMeshes, type MeshClient, type StoredMesh } from '@claudemesh/core';
import { connectTo } from '../context.js';
import { isFresh, readPresenceCache, writePresenceCache } from './presence-cache.js';
import { safeLine } from '../terminal-text.js';

/** A member and its sessions as `list_peers` reports them. */
type Peer = Awaited<ReturnType<MeshClient['listPeers']>>[number];

export interface StatusLineOptions {
  /** Mesh name, id or id prefix; needed only with several meshes joined. */
  mesh?: string;
  env?: NodeJS.ProcessEnv;
  now?: number;
  /** Budget for connecting and listing peers when the cache is stale. */
  timeoutMs?: number;
}

const MARK = '◇';
export const NOT_JOINED_LINE = `${MARK} claudemesh · not joined`;

/**
 * The one line Claude Code shows under the prompt. Never throws: every failure becomes a short
 * line, because Claude Code would show a stack trace there verbatim.
 */
export async function statusLineText(options: StatusLineOptions = {}): Promise<string> {
  const home = claudemeshHome(options.env ?? process.env);
  let meshes: StoredMesh[];
  try {
    meshes = loadMeshes(home);
  } catch {
    return `${MARK} claudemesh · unreadable ${home}/meshes`;
  }
  if (meshes.length === 0) return NOT_JOINED_LINE;
  const mesh = findMesh(home, options.mesh);
  if (!mesh) return options.mesh ? `${MARK} ${options.mesh} · not joined` : `${MARK} claudemesh · ${meshes.length} meshes joined (status-line --mesh <name>)`;

  const cached = readPresenceCache(home, mesh.mesh_id);
  if (cached && isFresh(cached, options.now)) return cached.offline ? offlineLine(cached.mesh_name) : presenceLine(cached.mesh_name, cached);
  try {
    const counts = await fetchPresence(mesh, options.timeoutMs ?? 2_000);
    saveQuietly(home, mesh, counts);
    return presenceLine(mesh.mesh_name, counts);
  } catch {
    return offlineLine(mesh.mesh_name);
  }
}

/** The daemon (or this call) could not reach the broker. */
export function offlineLine(meshName: string): string {
  return `${MARK} ${meshName} · offline`;
}

export function presenceLine(meshName: string, counts: { online: number; total: number }): string {
  return `${MARK} ${safeLine(meshName)} · ${counts.online}/${counts.total} online`;
}

/**
 * Counts members online. Our own member counts only if it has a session besides the one this
 * status line opened just to ask, or every status line would report itself as a live peer.
 */
export function countPresence(peers: readonly Peer[], self: { memberPubkey: string; sessionPubkey: string }): { online: number; total: number } {
  const isOnline = (p: Peer) => (p.member_pubkey === self.memberPubkey ? p.sessions.some((s) => s.session_pubkey !== self.sessionPubkey) : p.online);
  return { online: peers.filter(isOnline).length, total: peers.length };
}

/** Connects, lists peers and closes, all within `timeoutMs`; a connection that lands late is closed then. */
async function fetchPresence(mesh: StoredMesh, timeoutMs: number): Promise<{ online: number; total: number }> {
  const deadline = Date.now() + timeoutMs;
  const connecting = connectTo(mesh);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from ${mesh.broker_url} within ${timeoutMs} ms`)), timeoutMs);
  });
  try {
    return await Promise.race([
      connecting.then(async (client) => countPresence(await client.listPeers(), { memberPubkey: client.memberPubkey, sessionPubkey: client.session.publicKey })),
      timeout,
    ]);
  } finally {
    clearTimeout(timer);
    // a polite close frame if there is time left in the budget; the process exits right after anyway
    await Promise.race([connecting.then((c) => c.close()).catch(() => undefined), sleep(Math.min(200, Math.max(0, deadline - Date.now())))]);
  }
}

/** A cache we cannot write (read-only home) only costs the next call a reconnect. */
function saveQuietly(home: string, mesh: StoredMesh, counts: { online: number; total: number }): void {
  try {
    writePresenceCache(home, mesh.mesh_id, { mesh_name: mesh.mesh_name, ...counts });
  } catch {
    // the line is still right; only the next call pays for a connection
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms).unref());
}

/**
 * Reads and discards stdin (Claude Code writes the session JSON there) until it ends or `maxMs`
 * passes, so the writer never blocks on a full pipe and we never wait on a stdin left open.
 */
export function drainStdin(stream: NodeJS.ReadStream = process.stdin, maxMs = 50): Promise<void> {
  if (stream.isTTY) return Promise.resolve();
  return new Promise((resolve) => {
    const discard = () => undefined;
    const done = () => {
      clearTimeout(timer);
      stream.off('data', discard);
      stream.destroy();
      resolve();
    };
    const timer = setTimeout(done, maxMs);
    stream.on('data', discard);
    stream.once('end', done);
    stream.once('error', done);
  });
}
