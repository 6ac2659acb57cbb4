import { meshClientFor } from '../mesh-client-for.js';
import { claudemeshHome, findMesh, loadMeshes, MeshClient, WAITING_FOR_KEY, type StoredMesh } from '@claudemesh/core';
import { epochOneMembers, openWithClient, sendEncryptedWith } from '../rest/topic-e2e.js';
import { cryptoReady } from '@claudemesh/crypto';
import type { Server } from '@modelcontextprotocol/sdk/server/index.js';
import type { Notification, Request, Result } from '@modelcontextprotocol/sdk/types.js';
import { selectMesh } from '../context.js';
import { LocalStore } from '../store/local-store.js';
import { SessionTags } from '../tags/session-tags.js';
import { CHANNEL_CAPABILITY, type ChannelNotification } from './channel.js';
import { joinedNotice, notJoinedNotice, notJoinedToolResult } from './setup-notice.js';
import { ChannelPipe, type Log } from './pipe.js';
import { callTool, listTools, type ToolContext } from './tools.js';
import { enforce } from '../policy/gate.js';
import { MCP_TOOL_VERBS } from '../policy/verbs.js';

export interface McpPipeOptions {
  /** Mesh name or id; without it, the only joined mesh. */
  mesh?: string;
  /** Expose the mesh tools in `tools/list` (default: none, the CLI is the API). */
  tools?: boolean;
  /** Diagnostics sink; stdout carries MCP frames only, so the default is stderr. */
  log?: Log;
  /** How long a tool call may wait on the broker. */
  toolTimeoutMs?: number;
  /** --policy / --approval-mode for the tool calls (there is no terminal: a prompt is a refusal). */
  policy?: string;
  approvalMode?: string;
}

/** Tool calls pass the same gate as the CLI's verbs; what Claude may do is what the policy allows. */
function toolGate(mesh: StoredMesh, options: McpPipeOptions): NonNullable<ToolContext['gate']> {
  return async (tool, args) => {
    const as = MCP_TOOL_VERBS[tool];
    if (!as) return `${tool} has no entry in the policy's verb table; refused`;
    const request = { resource: as.resource, verb: as.verb, mesh: { name: mesh.mesh_name, id: mesh.mesh_id }, peers: as.peers?.(args) ?? [] };
    const verdict = await enforce(request, { home: claudemeshHome(), env: process.env, source: 'mcp', policyPath: options.policy, approvalMode: options.approvalMode, tty: false });
    return verdict.outcome === 'allow' ? null : `${verdict.stdout ?? ''}${verdict.message}`;
  };
}

type PipeServer = Server<Request, ChannelNotification | Notification, Result>;

const SERVER_INFO = { name: 'claudemesh', version: '0.1.0' } as const;

/** Read by Claude Code and shown to the model: what the channel messages are and how to answer. */
const INSTRUCTIONS =
  'Messages from peers on your claudemesh mesh are pushed into this session as channel events (meta: from_name, message_id, kind, priority, reply_to). ' +
  'Topic messages have kind "topic" and a topic (#name); answer them with `claudemesh topic send <topic> "<text>"` (or the topic_send tool). ' +
  'Those of end-to-end encrypted topics (meta encryption: e2e) arrive decrypted, or say they are waiting for a key from a member (meta undecryptable) until one is sealed to you. ' +
  'They stay unread until you read them: run `claudemesh inbox --read` (or call check_messages when tools are enabled). ' +
  'Reply with `claudemesh send <from_name> "<text>"` (or the send_message tool).';

/** Added to the instructions while no mesh is joined: the notice below says the same in the session. */
const NOT_JOINED_INSTRUCTIONS =
  'No mesh is joined on this machine yet: a channel event of kind "setup" says how to join (claudemesh join \'<invite link>\' --name <name>); messages start arriving once it is joined, without a restart.';

/** How often the pipe looks for a mesh joined while it waits, and for a change of tags.json (CLAUDEMESH_MCP_WATCH_MS, default 1000). */
function meshWatchMs(env: NodeJS.ProcessEnv = process.env): number {
  const ms = Number(env['CLAUDEMESH_MCP_WATCH_MS']);
  return Number.isInteger(ms) && ms >= 50 && ms <= 60_000 ? ms : 1_000;
}

const stderrLog: Log = (line) => process.stderr.write(`claudemesh mcp: ${line}\n`);

/** Like the CLI's one-shot connection, but it reconnects: the pipe lives as long as the Claude session. */
function createPipeClient(mesh: StoredMesh, history: LocalStore): MeshClient {
  return meshClientFor(mesh, { reconnect: true, clientName: 'claudemesh-mcp', history });
}

/** Loads the SDK only when the pipe runs, so other verbs start without it. */
async function loadSdk() {
  const [server, stdio, types] = await Promise.all([
    import('@modelcontextprotocol/sdk/server/index.js'),
    import('@modelcontextprotocol/sdk/server/stdio.js'),
    import('@modelcontextprotocol/sdk/types.js'),
  ]);
  return { Server: server.Server, StdioServerTransport: stdio.StdioServerTransport, ListToolsRequestSchema: types.ListToolsRequestSchema, CallToolRequestSchema: types.CallToolRequestSchema };
}

/** Resolves when the MCP client goes away: stdin ends, or the process is asked to stop. */
function untilStdinCloses(): Promise<void> {
  return new Promise((resolve) => {
    const done = () => resolve();
    process.stdin.once('end', done);
    process.stdin.once('close', done);
    process.once('SIGTERM', done);
    process.once('SIGINT', done);
  });
}

/** Mesh connection events go to the diagnostics log; none of them is fatal once connected. */
function logClientEvents(client: MeshClient, mesh: StoredMesh, log: Log): void {
  client.on('connected', (ack) => log(`connected to ${mesh.mesh_name} as ${ack.member.display_name} (${ack.queued} queued)`));
  client.on('disconnected', ({ code, reason }) => log(`disconnected from ${mesh.mesh_name} (${code}${reason ? ` ${reason}` : ''})`));
  client.on('decrypt_error', ({ messageId, from, error }) => log(`message ${messageId} from ${from.slice(0, 16)}… does not open: ${error.message}`));
  client.on('error', (error) => log(`mesh error: ${error.message}`));
}

/** The mesh the pipe serves, or null while none is joined here yet; an ambiguous --mesh still throws. */
function meshToServe(selector: string | undefined): StoredMesh | null {
  if (loadMeshes(claudemeshHome()).length === 0) return null;
  return selectMesh(selector);
}

/**
 * Resolves with the mesh once it is joined (a `claudemesh join` from another process writes
 * $CLAUDEMESH_HOME/meshes/<id>.json), or null when the pipe is closed first. Polls: the directory
 * may not exist yet, and a file may be caught half written (then the next look reads it whole).
 */
async function meshJoinedLater(selector: string | undefined, closed: Promise<void>, everyMs: number): Promise<StoredMesh | null> {
  let done = false;
  void closed.then(() => (done = true));
  while (!done) {
    await Promise.race([closed, new Promise((r) => setTimeout(r, everyMs))]);
    if (done) break;
    try {
      const found = loadMeshes(claudemeshHome()).length > 0 ? findMesh(claudemeshHome(), selector) : null;
      if (found) return found;
    } catch {
      // a mesh file being written: look again
    }
  }
  return null;
}

/** What one joined mesh needs while the pipe serves it. */
interface MeshLink {
  mesh: StoredMesh;
  store: LocalStore;
  client: MeshClient;
  pipe: ChannelPipe;
  ctx: ToolContext;
  /** Re-reads tags.json when it changes (a `peer tag` verb, another session's tools). */
  tagTimer: NodeJS.Timeout;
}

/**
 * Runs the push-pipe until stdin closes: an MCP stdio server that pushes every inbound mesh
 * message to Claude Code as `notifications/claude/channel`. With no mesh joined yet it serves
 * anyway: it tells the session how to join (one channel notification, and tool results) and picks
 * the mesh up as soon as it is joined. Throws (before or while connecting) when --mesh matches
 * none of several joined meshes or the broker refuses this member; the caller reports it.
 */
export async function runMcpPipe(options: McpPipeOptions = {}): Promise<void> {
  const log = options.log ?? stderrLog;
  const tools = options.tools ?? false;
  let mesh = meshToServe(options.mesh);
  await cryptoReady();
  const sdk = await loadSdk();
  const server: PipeServer = new sdk.Server(SERVER_INFO, {
    capabilities: { experimental: { [CHANNEL_CAPABILITY]: {} }, tools: {} },
    instructions: mesh ? INSTRUCTIONS : `${INSTRUCTIONS} ${NOT_JOINED_INSTRUCTIONS}`,
  });
  let initialized = false;
  let link: MeshLink | null = null;
  const notify = (n: ChannelNotification): void => void server.notification(n).catch((error: unknown) => log(`could not push a notice: ${(error as Error).message}`));

  server.oninitialized = () => {
    initialized = true;
    if (link) link.pipe.open();
    // After the pending initialize answer is out, for a client that sent both at once.
    else setImmediate(() => !link && notify(notJoinedNotice(claudemeshHome())));
  };
  server.onerror = (error) => log(`mcp error: ${error.message}`);
  server.setRequestHandler(sdk.ListToolsRequestSchema, () => ({ tools: listTools(tools) }));
  server.setRequestHandler(sdk.CallToolRequestSchema, (request) =>
    link ? callTool(link.ctx, tools, request.params.name, request.params.arguments) : notJoinedToolResult(tools, request.params.name, claudemeshHome()),
  );

  /** Connects to a joined mesh; pushes start at once when the MCP client is already initialized. */
  const attach = (m: StoredMesh): MeshLink => {
    const store = LocalStore.open(claudemeshHome());
    const client = createPipeClient(m, store);
    const pipe = new ChannelPipe(store, m, (n) => server.notification(n), log);
    // Claude Code starts the pipe in its workspace: a git work tree there adds repo:<name>.
    const tags = new SessionTags(claudemeshHome(), m.mesh_id, client, process.cwd(), log);
    try {
      tags.apply().catch(() => undefined);
    } catch (error) {
      log((error as Error).message);
    }
    const tagTimer = setInterval(() => tags.poll(), meshWatchMs());
    tagTimer.unref();
    const ctx: ToolContext = {
      client, store, mesh: m, timeoutMs: options.toolTimeoutMs ?? 15_000, gate: toolGate(m, options),
      sealTopic: (topic, text, replyTo) => sendEncryptedWith(client, m, topic, text, { ...(replyTo ? { replyTo } : {}), topicMembers: () => epochOneMembers(m, topic, client) }),
      tags: { home: claudemeshHome(), cwd: process.cwd(), session: tags },
    };
    // Listen before connecting: the offline queue drains right after the handshake.
    client.on('message', (msg) => pipe.receive(msg));
    // e2e topic messages are opened with the keyring first, one at a time so they stay in order.
    let opening: Promise<void> = Promise.resolve();
    client.on('topic', (msg) => {
      if (msg.body_version !== 2) {
        void opening.then(() => pipe.receiveTopic(msg));
        return;
      }
      opening = opening.then(async () => {
        try {
          const [opened] = await openWithClient(client, m, [msg]);
          pipe.receiveTopic(opened ?? { ...msg, text: null, reason: WAITING_FOR_KEY });
        } catch (error) {
          log(`could not open #${msg.topic} message ${msg.id}: ${(error as Error).message}`);
          pipe.receiveTopic({ ...msg, text: null, reason: `could not be opened: ${(error as Error).message}` });
        }
      });
    });
    logClientEvents(client, m, log);
    if (initialized) pipe.open();
    return { mesh: m, store, client, pipe, ctx, tagTimer };
  };

  const closed = untilStdinCloses();
  try {
    await server.connect(new sdk.StdioServerTransport());
    if (!mesh) {
      log(`no mesh joined under ${claudemeshHome()}; waiting for one (claudemesh join '<invite link>')`);
      mesh = await meshJoinedLater(options.mesh, closed, meshWatchMs());
      if (!mesh) return;
      log(`mesh ${mesh.mesh_name} joined; connecting`);
      if (initialized) notify(joinedNotice(mesh));
    }
    link = attach(mesh);
    // An auth refusal rejects connect(); an unreachable broker just keeps it retrying.
    const connected = link.client.connect();
    connected.catch(() => undefined); // after stdin closed, the rejection from close() is moot
    await Promise.race([closed, connected.then(() => closed)]);
  } finally {
    if (link) clearInterval(link.tagTimer);
    await link?.client.close();
    await server.close();
    link?.store.close();
  }
}
