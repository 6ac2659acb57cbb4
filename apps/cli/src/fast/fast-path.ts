import { encodeBody, isMessagePriority } from '@claudemesh/core/body';
import { readdirSync, readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { DaemonCallError, DaemonClient, olderDaemon, peerList } from '../daemon/client.js';
import { inboxDrainWaitMs } from '../daemon/inbox-wait.js';
import { daemonPaths } from '../daemon/paths.js';
import { EXIT, exitCodeOf } from '../exit-codes.js';
import { errorLine, inboxIncompleteNote, inboxText, offlineInboxLine, peersText, sentText, staleLine, statusText } from '../format.js';
import { enforce } from '../policy/gate.js';
import { hasTerminal } from '../policy/prompt.js';

/**
 * The hot verbs, answered through a running daemon without loading Nest, zod or libsodium (which
 * cost ~0.4 s of start-up here). Anything this parser does not fully understand — an unknown flag,
 * a bad value, no daemon, an ambiguous mesh — returns false and goes through the command tree,
 * which then prints the proper usage error. The flags mirror the commands' (a test compares them).
 */
type Verb = 'send' | 'peers' | 'inbox' | 'status';

export const FAST_VERBS: Record<string, Verb> = {
  send: 'send',
  'message send': 'send',
  peers: 'peers',
  'peer list': 'peers',
  'peer ls': 'peers',
  inbox: 'inbox',
  'message inbox': 'inbox',
  'message status': 'status',
};

const COMMON = { mesh: { type: 'string', short: 'm' }, json: { type: 'boolean' }, policy: { type: 'string' }, 'approval-mode': { type: 'string' } } as const;
export const FAST_OPTIONS: Record<Verb, NonNullable<ParseArgsConfig['options']>> = {
  send: { ...COMMON, priority: { type: 'string', short: 'p' }, 'reply-to': { type: 'string', short: 'r' } },
  peers: { ...COMMON },
  inbox: { ...COMMON, read: { type: 'boolean' }, all: { type: 'boolean', short: 'a' }, wait: { type: 'string', short: 'w' } },
  status: { ...COMMON },
};

const MESSAGE_ID = /^[1-9][0-9]{0,18}$/;

/** Each fast verb as the policy names it (apps/cli/src/policy/verbs.ts). */
const GATED_AS: Record<Verb, (o: Record<string, string | boolean | undefined>) => [string, string]> = {
  send: () => ['message', 'send'],
  peers: () => ['peer', 'list'],
  inbox: (o) => ['message', o['read'] === true ? 'read' : 'inbox'],
  status: () => ['message', 'status'],
};

interface MeshLite {
  mesh_id: string;
  mesh_name: string;
}

/** The same selection as the command tree's: by id, name or unique id prefix; the only one when unnamed. */
function selectMeshLite(home: string, selector: string | undefined): MeshLite | null {
  let meshes: MeshLite[];
  try {
    meshes = readdirSync(join(home, 'meshes'))
      .filter((n) => n.endsWith('.json'))
      .sort()
      .map((n) => JSON.parse(readFileSync(join(home, 'meshes', n), 'utf8')) as MeshLite);
  } catch {
    return null;
  }
  if (meshes.some((m) => typeof m.mesh_id !== 'string' || typeof m.mesh_name !== 'string')) return null;
  const matches = selector ? meshes.filter((m) => m.mesh_id === selector || m.mesh_name === selector || m.mesh_id.startsWith(selector)) : meshes;
  return matches.length === 1 ? matches[0]! : null;
}

function verbOf(args: string[]): { verb: Verb; rest: string[] } | null {
  const two = FAST_VERBS[`${args[0]} ${args[1]}`];
  if (two) return { verb: two, rest: args.slice(2) };
  const one = args[0] !== undefined ? FAST_VERBS[args[0]] : undefined;
  return one ? { verb: one, rest: args.slice(1) } : null;
}

/** Returns true when it answered (and set process.exitCode); false to let the command tree run. */
export async function tryFastPath(args: string[], env: NodeJS.ProcessEnv = process.env): Promise<boolean> {
  if (env['CLAUDEMESH_FAST'] === 'off' || env['CLAUDEMESH_DAEMON'] === 'off') return false;
  const found = verbOf(args);
  if (!found) return false;
  let parsed;
  try {
    parsed = parseArgs({ args: found.rest, options: FAST_OPTIONS[found.verb], allowPositionals: true, strict: true });
  } catch {
    return false;
  }
  const o = parsed.values as Record<string, string | boolean | undefined>;
  const pos = parsed.positionals;
  const json = o['json'] === true;
  const home = resolve(env['CLAUDEMESH_HOME'] ?? join(homedir(), '.claudemesh'));
  const mesh = selectMeshLite(home, o['mesh'] as string | undefined);
  if (!mesh) return false;

  // Validate exactly as the commands do; anything doubtful is theirs to report.
  let plaintext = '';
  if (found.verb === 'send') {
    const priority = o['priority'] as string | undefined;
    const replyTo = o['reply-to'] as string | undefined;
    if (pos.length < 2 || (priority !== undefined && !isMessagePriority(priority)) || (replyTo !== undefined && !MESSAGE_ID.test(replyTo))) return false;
    // tag: and tag?: are resolved from the live peers by the command tree (message.command.ts), not queued by the daemon.
    if (/^tag\??:/.test(pos[0]!)) return false;
    plaintext = encodeBody(pos.slice(1).join(' '), { ...(priority ? { priority } : {}), ...(replyTo ? { replyTo } : {}) });
    if (pos.slice(1).join(' ') === '') return false;
  } else if (found.verb === 'status') {
    if (pos.length === 0 || pos.some((id) => !MESSAGE_ID.test(id))) return false;
  } else if (pos.length > 0) return false;
  const waitS = o['wait'] === undefined ? 0 : Number(o['wait']);
  if (!Number.isFinite(waitS) || waitS < 0) return false;

  let daemon: DaemonClient;
  try {
    daemon = await DaemonClient.connect(daemonPaths(home).socket, 300);
  } catch {
    return false;
  }
  try {
    // The same policy gate as the command tree's @Gated verbs (apps/cli/src/policy).
    const [resource, verb] = GATED_AS[found.verb](o);
    const gate = { home, env, source: 'fast', policyPath: o['policy'] as string | undefined, approvalMode: o['approval-mode'] as string | undefined, tty: hasTerminal(), json } as const;
    const verdict = await enforce({ resource, verb, mesh: { name: mesh.mesh_name, id: mesh.mesh_id }, peers: found.verb === 'send' ? [pos[0]!] : [] }, gate);
    if (verdict.outcome !== 'allow') {
      if (verdict.stdout) process.stdout.write(verdict.stdout);
      throw new FastError(verdict.message, verdict.exitCode);
    }
    process.stdout.write(await answer(found.verb, daemon, home, mesh, { pos, o, json, plaintext, waitS, env }));
  } catch (error) {
    if (error instanceof FastError) {
      process.stderr.write(errorLine(error.message, error.code));
      process.exitCode = error.exitCode;
    } else if (error instanceof DaemonCallError) {
      process.stderr.write(errorLine(error.body.message, error.body.code));
      process.exitCode = error.body.exit_code ?? exitCodeOf(error.body.code);
    } else throw error;
  } finally {
    daemon.close();
  }
  return true;
}

class FastError extends Error {
  constructor(
    message: string,
    readonly exitCode: number,
    readonly code?: string,
  ) {
    super(message);
  }
}

interface Ctx {
  pos: string[];
  o: Record<string, string | boolean | undefined>;
  json: boolean;
  plaintext: string;
  waitS: number;
  env: NodeJS.ProcessEnv;
}

async function answer(verb: Verb, d: DaemonClient, home: string, mesh: MeshLite, c: Ctx): Promise<string> {
  switch (verb) {
    case 'send': {
      // The daemon resolves the name and checks a verified key against its member list (verified-check.ts).
      const wait = Number(c.env['CLAUDEMESH_SEND_WAIT_MS']);
      const outcome = (await d.call('send', { mesh_id: mesh.mesh_id, to: c.pos[0]!, plaintext: c.plaintext, ...(Number.isInteger(wait) && wait >= 0 ? { wait_ms: wait } : {}) })) as Parameters<typeof sentText>[1] & { warning?: string };
      if (outcome.warning) process.stderr.write(outcome.warning);
      return sentText(c.pos[0]!, outcome, c.json);
    }
    case 'peers': {
      const { peers, stale } = peerList(await d.call('peers', { mesh_id: mesh.mesh_id }));
      if (stale) process.stderr.write(staleLine(stale));
      const { LocalStore } = await import('../store/local-store.js');
      const store = LocalStore.open(home);
      let verified: Set<string>;
      try {
        verified = new Set(store.verifiedPeers(mesh.mesh_id).map((v) => v.member_pubkey));
      } finally {
        store.close();
      }
      return peersText(peers, c.json, verified);
    }
    case 'status': {
      const statuses = (await d.call('message_status', { mesh_id: mesh.mesh_id, message_ids: c.pos })) as Parameters<typeof statusText>[0];
      const text = statusText(statuses, c.json);
      const missing = c.pos.filter((id) => !statuses.some((s) => s.message_id === id));
      if (missing.length > 0) {
        process.stdout.write(text);
        throw new FastError(`no message you sent has id ${missing.join(', ')}`, EXIT.notFound);
      }
      return text;
    }
    case 'inbox': {
      // A daemon whose session has not drained the broker's offline queue yet would answer short.
      const waitMs = inboxDrainWaitMs(c.env);
      const ready = (await d.call('inbox_ready', { mesh_id: mesh.mesh_id, timeout_ms: waitMs }).catch(olderDaemon)) as { complete: boolean; broker_url: string };
      const offline = await offlineNote(d, mesh.mesh_id);
      if (offline) process.stderr.write(offline);
      else if (!ready.complete) process.stderr.write(inboxIncompleteNote(ready.broker_url, waitMs));
      if (c.waitS > 0) await new Promise((r) => setTimeout(r, c.waitS * 1000));
      const { LocalStore } = await import('../store/local-store.js');
      const store = LocalStore.open(home);
      let messages;
      try {
        messages = store.inbox(mesh.mesh_id, { all: c.o['all'] === true });
      } finally {
        store.close();
      }
      const read = c.o['read'] === true;
      const unread = messages.filter((m) => m.read_at === null).map((m) => m.message_id);
      if (read) for (let i = 0; i < unread.length; i += 500) await d.call('mark_read', { mesh_id: mesh.mesh_id, message_ids: unread.slice(i, i + 500) });
      return inboxText(messages, { json: c.json, read });
    }
  }
}


/** The stderr line for an inbox read while the daemon cannot reach this mesh's broker, or null. */
async function offlineNote(d: DaemonClient, meshId: string): Promise<string | null> {
  const info = (await d.call('info')) as { meshes: Array<{ mesh_id: string; state?: string; cause?: string }> };
  const link = info.meshes.find((m) => m.mesh_id === meshId);
  return link && (link.state === 'unreachable' || link.state === 'refused') ? offlineInboxLine(link.cause ?? link.state) : null;
}
