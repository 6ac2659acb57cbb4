/**
 * Every verb that reaches a broker, as the policy sees it: a (resource, verb) pair and its kind.
 * The one table the gate, docs/cli.md ("Policy and audit") and the tests read. Kinds decide what an
 * approval mode lets through (read-only: reads) and the built-in default (destructive: prompt).
 *
 * Verbs that stay on this machine (mesh list, whoami, identity, backup, restore, audit, daemon,
 * doctor…) are not gated: they carry no action on a mesh.
 */
export type Kind = 'read' | 'write' | 'destructive';

export const KINDS: readonly Kind[] = ['read', 'write', 'destructive'];

export interface GatedVerb {
  kind: Kind;
  /** The CLI spelling (for messages and docs). */
  cli: string;
}

export const GATED_VERBS: Readonly<Record<string, GatedVerb>> = {
  'mesh create': { kind: 'write', cli: 'mesh create' },
  'mesh invite': { kind: 'write', cli: 'mesh invite' },
  'mesh share': { kind: 'write', cli: 'mesh share' },
  'mesh handoff': { kind: 'write', cli: 'mesh handoff' },
  'mesh stats': { kind: 'read', cli: 'mesh stats' },
  'invite list': { kind: 'read', cli: 'mesh invite list' },
  // A revoked invite cannot be reopened; its holder needs a new one.
  'invite revoke': { kind: 'destructive', cli: 'mesh invite revoke' },
  'mesh join': { kind: 'write', cli: 'join' },
  // Deletes your keys for the mesh on this machine: without a backup there is no way back.
  'mesh leave': { kind: 'destructive', cli: 'mesh leave' },
  'peer list': { kind: 'read', cli: 'peer list' },
  'peer verify': { kind: 'read', cli: 'peer verify' },
  'peer grants': { kind: 'read', cli: 'peer grants' },
  // Grants are undone by their opposite verb, so changing them is a write, not destructive.
  'peer grant': { kind: 'write', cli: 'peer grant' },
  'peer revoke': { kind: 'write', cli: 'peer revoke' },
  'peer block': { kind: 'write', cli: 'peer block' },
  'peer unblock': { kind: 'write', cli: 'peer unblock' },
  // What your sessions advertise for tag:<tag> sends; undone by the opposite verb.
  'tag add': { kind: 'write', cli: 'peer tag add' },
  'tag remove': { kind: 'write', cli: 'peer tag remove' },
  'tag repo': { kind: 'write', cli: 'peer tag repo' },
  'tag list': { kind: 'read', cli: 'peer tag list' },
  'message send': { kind: 'write', cli: 'message send' },
  'message inbox': { kind: 'read', cli: 'message inbox' },
  // Marking read sends a read receipt; it is part of reading, so read-only mode allows it.
  'message read': { kind: 'read', cli: 'message inbox --read' },
  'message status': { kind: 'read', cli: 'message status' },
  'status set': { kind: 'write', cli: 'status set' },
  'summary set': { kind: 'write', cli: 'summary set' },
  'group join': { kind: 'write', cli: 'group join' },
  'group leave': { kind: 'write', cli: 'group leave' },
  'state set': { kind: 'write', cli: 'state set' },
  'state get': { kind: 'read', cli: 'state get' },
  'state list': { kind: 'read', cli: 'state list' },
  // Topics, members, notifications and the workspace views (REST, with a key minted per run).
  'topic create': { kind: 'write', cli: 'topic create' },
  'topic list': { kind: 'read', cli: 'topic list' },
  'topic join': { kind: 'write', cli: 'topic join' },
  'topic leave': { kind: 'write', cli: 'topic leave' },
  'topic members': { kind: 'read', cli: 'topic members' },
  'topic add': { kind: 'write', cli: 'topic add' },
  'topic history': { kind: 'read', cli: 'topic history' },
  'topic send': { kind: 'write', cli: 'topic send' },
  // A read mark, like message read: part of reading.
  'topic read': { kind: 'read', cli: 'topic read' },
  'topic tail': { kind: 'read', cli: 'topic tail' },
  'member list': { kind: 'read', cli: 'member list' },
  'member rename': { kind: 'write', cli: 'member rename' },
  'member scope': { kind: 'write', cli: 'member scope' },
  // The member's key is refused for good (a new invite is the only way back).
  'member revoke': { kind: 'destructive', cli: 'member revoke' },
  'notification list': { kind: 'read', cli: 'notification list' },
  'notification read': { kind: 'read', cli: 'notification list --read' },
  'me show': { kind: 'read', cli: 'me' },
  'me topics': { kind: 'read', cli: 'me topics' },
  'me notifications': { kind: 'read', cli: 'me notifications' },
  'me activity': { kind: 'read', cli: 'me activity' },
  'me search': { kind: 'read', cli: 'me search' },
  // A key is a secret that acts as you (or as the human it enrols); listing shows no secrets.
  'apikey create': { kind: 'write', cli: 'apikey create' },
  'apikey list': { kind: 'read', cli: 'apikey list' },
  // Whatever uses the key stops working at once, and a revoked key cannot be restored.
  'apikey revoke': { kind: 'destructive', cli: 'apikey revoke' },
  // Plugins (docs/plugins.md): running them starts peers that act in the meshes their homes joined.
  'plugin list': { kind: 'read', cli: 'plugin list' },
  'plugin add': { kind: 'write', cli: 'plugin add' },
  // Its keys and state are gone for good (a new instance joins by a new invite).
  'plugin remove': { kind: 'destructive', cli: 'plugin remove' },
  'plugin run': { kind: 'write', cli: 'plugin run' },
  'plugin status': { kind: 'read', cli: 'plugin status' },
  'plugin logs': { kind: 'read', cli: 'plugin logs' },
};

export function gatedVerb(resource: string, verb: string): GatedVerb {
  const found = GATED_VERBS[`${resource} ${verb}`];
  // A programming error: every gated call site names a verb of this table.
  if (!found) throw new Error(`"${resource} ${verb}" is not in the policy's verb table (apps/cli/src/policy/verbs.ts)`);
  return found;
}

/** The MCP push-pipe's tools (`claudemesh mcp --tools`) and the verb each one is gated as. */
export const MCP_TOOL_VERBS: Readonly<Record<string, { resource: string; verb: string; peers?: (args: Record<string, unknown>) => string[] }>> = {
  list_peers: { resource: 'peer', verb: 'list' },
  send_message: { resource: 'message', verb: 'send', peers: (a) => (typeof a['to'] === 'string' ? [a['to']] : []) },
  check_messages: { resource: 'message', verb: 'read' },
  set_summary: { resource: 'summary', verb: 'set' },
  set_status: { resource: 'status', verb: 'set' },
  add_tags: { resource: 'tag', verb: 'add' },
  remove_tags: { resource: 'tag', verb: 'remove' },
  list_tags: { resource: 'tag', verb: 'list' },
  topic_send: { resource: 'topic', verb: 'send', peers: (a) => (typeof a['topic'] === 'string' ? [`#${a['topic']}`] : []) },
};
