import { ProtocolError, type ApiKeyCapability, type MemberScope } from '@claudemesh/core';
import type { MemberRecord, MemberScopeRecord } from './mesh-directory.js';

/**
 * A member's scope (docs/protocol.md §8.3 "MemberScope"): a ceiling on what it does, whatever its
 * role, its API keys or its sessions ask. A plugin's member is confined to its manifest this way
 * (docs/plugins.md §1.1), so the plugin's own code cannot reach past it.
 */

const WHAT: Record<ApiKeyCapability, string> = {
  read: 'reading (history, streams, topic pushes, shared state, groups)',
  send: 'sending (messages, topic posts, epochs and seals, shared state)',
  admin: 'administering the mesh (invites, members, admin keys)',
};

const list = (s: ReadonlySet<string>): string => [...s].sort().join(', ') || 'nothing';

/** What `scope` says about `member`, for error messages. */
export function describeScope(scope: MemberScopeRecord): string {
  return `${list(scope.capabilities)}${scope.topics ? ` on topics ${list(scope.topics)}` : ''}`;
}

/** E_FORBIDDEN when the member's scope leaves out `capability`, or `topic` when it names one. */
export function requireScope(member: MemberRecord, capability: ApiKeyCapability | null, topic?: string): void {
  const scope = member.scope;
  if (!scope) return;
  if (capability && !scope.capabilities.has(capability)) {
    throw new ProtocolError('E_FORBIDDEN', `${member.displayName} is confined to ${describeScope(scope)}: ${WHAT[capability]} is outside its scope`);
  }
  if (topic !== undefined && scope.topics && !scope.topics.has(topic)) {
    throw new ProtocolError('E_FORBIDDEN', `${member.displayName} is confined to topics ${list(scope.topics)}: #${topic} is outside its scope`);
  }
}

/** Whether a confined member may see `topic` at all (pushes of topics outside are not sent). */
export function topicInScope(member: MemberRecord, topic: string): boolean {
  const scope = member.scope;
  return !scope || (scope.capabilities.has('read') && (!scope.topics || scope.topics.has(topic)));
}

/** The scope as the wire shows it. */
export function wireScope(scope: MemberScopeRecord | null): MemberScope | null {
  return scope ? { capabilities: [...scope.capabilities].sort(), topics: scope.topics ? [...scope.topics].sort() : null } : null;
}

/** Whether `asked` reaches no further than `current` (a member may narrow its own scope, never widen it). */
export function narrows(current: MemberScopeRecord | null, asked: MemberScope): boolean {
  if (!current) return true;
  if (asked.capabilities.some((c) => !current.capabilities.has(c))) return false;
  if (!current.topics) return true;
  return asked.topics !== null && asked.topics.every((t) => current.topics!.has(t));
}

/** An API key's reach under its member's scope: the key's capabilities and topics, cut to the scope. */
export function cutToScope(scope: MemberScopeRecord | null, capabilities: ReadonlySet<ApiKeyCapability>, topics: ReadonlySet<string> | null): { capabilities: Set<ApiKeyCapability>; topics: Set<string> | null } {
  if (!scope) return { capabilities: new Set(capabilities), topics: topics ? new Set(topics) : null };
  const caps = new Set([...capabilities].filter((c) => scope.capabilities.has(c)));
  if (!scope.topics) return { capabilities: caps, topics: topics ? new Set(topics) : null };
  const cut = topics ? [...topics].filter((t) => scope.topics!.has(t)) : [...scope.topics];
  return { capabilities: caps, topics: new Set(cut) };
}
