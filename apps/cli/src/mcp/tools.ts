import {
  encodeBody, LIMITS, MessageId, MessagePriority, parseTagTarget, PeerStatus, PeerTag, PostTopicMessageBody, ProtocolError, sendToTag, Target, TopicMessageId, TopicName, type MeshClient, type TopicMessage,
} from '@claudemesh/core';
import type { CallToolResult, Tool } from '@modelcontextprotocol/sdk/types.js';
import { z } from 'zod';
import type { LocalMessage, LocalStore } from '../store/local-store.js';
import { addTags, removeTags } from '../tags/edit.js';
import type { SessionTags } from '../tags/session-tags.js';
import type { MeshRef } from './channel.js';

/** What a tool call may touch: the live mesh connection and the shared local inbox. */
export interface ToolContext {
  client: MeshClient;
  store: LocalStore;
  mesh: MeshRef;
  /**
   * How long a call may wait on the broker. Requests wait for the connection, which may be
   * reconnecting; a tool call must answer rather than hang the model's turn.
   */
  timeoutMs: number;
  /** The policy gate (apps/cli/src/policy): a refusal's text, or null to go ahead. */
  gate?: (tool: string, args: Record<string, unknown>) => Promise<string | null>;
  /** Seals and posts to an end-to-end encrypted topic with the member's keyring (server.ts); without it such a post is refused. */
  sealTopic?: (topic: string, text: string, replyTo?: string) => Promise<TopicMessage>;
  /** This session's tags (server.ts): tags.json of `home`, plus repo: from the pipe's workspace. Without it the tag tools refuse. */
  tags?: { home: string; cwd: string | null; session: SessionTags };
}

/** One tool as listed and called: the zod schema is both the validator and the advertised JSON schema. */
interface McpTool {
  readonly definition: Tool;
  call(ctx: ToolContext, rawArgs: unknown): Promise<CallToolResult>;
}

function textResult(text: string): CallToolResult {
  return { content: [{ type: 'text', text }] };
}

function errorResult(text: string): CallToolResult {
  return { content: [{ type: 'text', text }], isError: true };
}

function describeIssues(error: z.ZodError): string {
  return error.issues.map((i) => (i.path.length > 0 ? `${i.path.join('.')}: ${i.message}` : i.message)).join('; ');
}

function describeError(error: unknown): string {
  const message = error instanceof Error ? error.message : String(error);
  return error instanceof ProtocolError ? `${message} [${error.code}]` : message;
}

/** Rejects after `ms` so a call made while the broker is unreachable still gets an answer. */
async function withTimeout<T>(work: Promise<T>, ms: number, note: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer from the broker within ${ms / 1000} s (not connected?)${note}`)), ms);
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** Input schemas as JSON Schema, without the `$schema` line MCP clients do not need. */
function inputSchemaOf(schema: z.ZodType): Tool['inputSchema'] {
  const { $schema: _ignored, ...json } = z.toJSONSchema(schema, { io: 'input' }) as Record<string, unknown>;
  return { ...json, type: 'object' } as Tool['inputSchema'];
}

/**
 * Wraps a handler so bad arguments and any failure become an `isError` result, never a crash.
 * `timeoutNote` tells the model what a timeout means for this tool (a send keeps retrying).
 */
function defineTool<S extends z.ZodType>(
  name: string,
  description: string,
  args: S,
  run: (ctx: ToolContext, args: z.output<S>) => Promise<string>,
  timeoutNote = '',
): McpTool {
  return {
    definition: { name, description, inputSchema: inputSchemaOf(args) },
    async call(ctx, rawArgs) {
      const parsed = args.safeParse(rawArgs ?? {});
      if (!parsed.success) return errorResult(`invalid arguments for ${name}: ${describeIssues(parsed.error)}`);
      try {
        const refused = await ctx.gate?.(name, parsed.data as Record<string, unknown>);
        if (refused) return errorResult(refused);
        return textResult(await withTimeout(run(ctx, parsed.data), ctx.timeoutMs, timeoutNote));
      } catch (error) {
        return errorResult(`${name} failed: ${describeError(error)}`);
      }
    },
  };
}

/** A stored message as check_messages returns it: the fields a reader needs, times in ISO form. */
function presentMessage(m: LocalMessage): Record<string, string | null> {
  return {
    message_id: m.message_id,
    from_name: m.from_name,
    from_member: m.from_member,
    kind: m.kind,
    to: m.to,
    priority: m.priority,
    reply_to: m.reply_to,
    sent_at: new Date(m.sent_at).toISOString(),
    text: m.text,
  };
}

/** Marks messages read at the broker in frames of at most the protocol's id limit. */
function markReadAtBroker(client: MeshClient, ids: string[]): void {
  for (let i = 0; i < ids.length; i += LIMITS.maxIdsPerFrame) client.markRead(ids.slice(i, i + LIMITS.maxIdsPerFrame));
}

const listPeers = defineTool('list_peers', 'List the members of the mesh with their presence, sessions, status and summary.', z.strictObject({}), async (ctx) =>
  JSON.stringify(await ctx.client.listPeers(), null, 2),
);

/** A send target, or `tag:<tag>` / `tag?:<tag>` (§5.7), checked with the protocol's schemas. */
const SendTo = z.string().superRefine((to, ctx) => {
  const tag = /^tag\??:(.*)$/.exec(to);
  if (tag) {
    if (!PeerTag.safeParse(tag[1]).success) ctx.addIssue({ code: 'custom', message: `"${tag[1]}" is not a tag (name or name:value, lowercase; e.g. tag:repo:billing)` });
  } else if (!Target.safeParse(to).success) {
    ctx.addIssue({ code: 'custom', message: 'expected a display name, a member or session pubkey, @group, *, tag:<tag> or tag?:<tag>' });
  }
});

const sendMessage = defineTool(
  'send_message',
  'Send an end-to-end encrypted message to a peer (display name or member pubkey), a @group, * (everyone), tag:<tag> (every live peer whose session advertises the tag, e.g. tag:repo:billing) or tag?:<tag> (one of them, the least busy). ' +
    'Returns the broker ack once it is stored; for a tag, which peers got a copy. A tag nobody live advertises sends nothing (E_UNKNOWN_TARGET).',
  z.strictObject({
    to: SendTo.describe('display name, member or session pubkey, @group, * for everyone, tag:<tag> or tag?:<tag>'),
    text: z.string().min(1).describe('the message text'),
    priority: MessagePriority.optional().describe('now (interrupt), next (default) or low'),
    reply_to: MessageId.optional().describe('message_id of the message this answers'),
  }),
  async (ctx, { to, text, priority, reply_to }) => {
    const body = encodeBody(text, { ...(priority ? { priority } : {}), ...(reply_to ? { replyTo: reply_to } : {}) });
    // Resolved from the live peers now, one boxed DM per member: nothing is queued for a tag.
    const tag = parseTagTarget(to);
    if (tag) return JSON.stringify(await sendToTag(ctx.client, tag, body));
    const ack = await ctx.client.send(to, body);
    return JSON.stringify(ack);
  },
  ' (it keeps retrying in the background under the same id; do not resend)',
);

const checkMessages = defineTool(
  'check_messages',
  'Return the unread messages of this mesh from the local inbox (oldest first) and mark them read.',
  z.strictObject({}),
  async (ctx) => {
    const unread = ctx.store.inbox(ctx.mesh.mesh_id);
    const ids = unread.map((m) => m.message_id);
    ctx.store.markRead(ctx.mesh.mesh_id, ids);
    markReadAtBroker(ctx.client, ids);
    return JSON.stringify(unread.map(presentMessage), null, 2);
  },
);

const setSummary = defineTool(
  'set_summary',
  'Set the one-line summary other peers see for this session (what you are working on).',
  z.strictObject({ summary: z.string().max(LIMITS.maxSummaryChars).describe('a short description of what you are doing') }),
  async (ctx, { summary }) => {
    await ctx.client.setSummary(summary);
    return `summary set: ${summary}`;
  },
);

const setStatus = defineTool(
  'set_status',
  'Set the presence status other peers see for this session.',
  z.strictObject({ status: PeerStatus.describe('idle, working or dnd (do not disturb)') }),
  async (ctx, { status }) => {
    await ctx.client.setStatus(status);
    return `status set: ${status}`;
  },
);

/** The tag tools' context, or why there is none. */
function tagsOf(ctx: ToolContext): NonNullable<ToolContext['tags']> {
  if (!ctx.tags) throw new Error('tags are not available in this session');
  return ctx.tags;
}

/** What the tag tools answer: every tag with where it comes from, and what this session advertises now. */
function tagAnswer(t: NonNullable<ToolContext['tags']>, extra: Record<string, unknown> = {}): string {
  return JSON.stringify({ ...extra, ...t.session.view(), advertised: t.session.current }, null, 2);
}

const TagList = z.array(PeerTag).min(1).max(LIMITS.maxTagsPerSession);

const addTagsTool = defineTool(
  'add_tags',
  'Advertise tags on your sessions in this mesh (kept like `claudemesh peer tag add`, so your other sessions advertise them too): peers then reach you with tag:<tag> or tag?:<tag>. ' +
    'A tag is name or name:value, lowercase, e.g. role:reviewer, lang:go.',
  z.strictObject({ tags: TagList.describe('the tags to add, e.g. ["role:reviewer"]') }),
  async (ctx, { tags }) => {
    const t = tagsOf(ctx);
    const added = addTags(t.home, ctx.mesh.mesh_id, tags);
    await t.session.apply();
    return tagAnswer(t, { added });
  },
  ' (the tags are kept; this session advertises them once connected)',
);

const removeTagsTool = defineTool(
  'remove_tags',
  'Stop advertising tags on your sessions in this mesh (like `claudemesh peer tag remove`). The repo:<name> tag derived from the git remote is turned off with `claudemesh peer tag repo off` instead.',
  z.strictObject({ tags: TagList.describe('the tags to remove') }),
  async (ctx, { tags }) => {
    const t = tagsOf(ctx);
    const removed = removeTags(t.home, ctx.mesh.mesh_id, tags, t.cwd);
    await t.session.apply();
    return tagAnswer(t, { removed });
  },
  ' (the change is kept; this session advertises it once connected)',
);

const listTagsTool = defineTool(
  'list_tags',
  'List the tags your sessions advertise in this mesh: those added (add_tags, `claudemesh peer tag add`) and repo:<name> derived from the git remote of this workspace (derived: true); `advertised` is what this session carries now.',
  z.strictObject({}),
  async (ctx) => {
    const t = tagsOf(ctx);
    // A change made elsewhere (the CLI) is taken up here at once rather than at the next poll.
    t.session.apply().catch(() => undefined);
    return tagAnswer(t);
  },
);

const topicSend = defineTool(
  'topic_send',
  'Post a message to a topic (#name) of the mesh; every member of the topic sees it. A plaintext topic is readable by the broker; an end-to-end encrypted (e2e) topic is sealed here with your keyring, so only its members read it. Returns the stored message.',
  z.strictObject({
    topic: TopicName.describe('the topic name without #, e.g. general'),
    text: PostTopicMessageBody.shape.text.describe('the message text'),
    reply_to: TopicMessageId.optional().describe('id of the topic message this answers'),
  }),
  async (ctx, { topic, text, reply_to }) => {
    try {
      return JSON.stringify(await ctx.client.topicSend(topic, text, reply_to ? { replyTo: reply_to } : {}));
    } catch (error) {
      // An e2e topic refuses text (nothing was stored): seal it under the topic's key epoch instead.
      if (!(error instanceof ProtocolError && error.code === 'E_TOPIC_MODE' && ctx.sealTopic)) throw error;
      const sent = await ctx.sealTopic(topic, text, reply_to);
      return JSON.stringify({ ...sent, text });
    }
  },
  ' (it keeps retrying in the background under the same id; do not resend)',
);

/** The `--tools` set, for MCP clients that cannot run the CLI themselves. */
export const MESH_TOOLS: readonly McpTool[] = [listPeers, sendMessage, checkMessages, setSummary, setStatus, topicSend, addTagsTool, removeTagsTool, listTagsTool];

/** What `tools/list` answers: nothing by default (the CLI is the API), the mesh tools with `--tools`. */
export function listTools(enabled: boolean): Tool[] {
  return enabled ? MESH_TOOLS.map((t) => t.definition) : [];
}

/** Runs one `tools/call`; unknown or disabled tools are an `isError` result naming what exists. */
export async function callTool(ctx: ToolContext, enabled: boolean, name: string, rawArgs: unknown): Promise<CallToolResult> {
  const tool = enabled ? MESH_TOOLS.find((t) => t.definition.name === name) : undefined;
  if (!tool) {
    const available = listTools(enabled).map((t) => t.name);
    return errorResult(`unknown tool ${name}; ${available.length > 0 ? `available: ${available.join(', ')}` : 'this pipe exposes no tools (start it with claudemesh mcp --tools), use the claudemesh CLI instead'}`);
  }
  return tool.call(ctx, rawArgs);
}
