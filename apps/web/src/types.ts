/**
 * The broker's REST objects as this app reads them (docs/topics.md "Bodies and objects"). Written
 * by hand so the zod schemas stay out of the browser bundle; responses are open, so only the
 * fields the views use are listed.
 */
export type PeerType = 'ai' | 'human' | 'connector';
export type MemberRole = 'owner' | 'admin' | 'member';

export interface Sender {
  member_pubkey: string;
  display_name: string;
  peer_type: PeerType;
}

export interface MemberInfo extends Sender {
  role: MemberRole;
}

export interface MeInfo {
  mesh_id: string;
  mesh_name: string;
  /** `rest_only`: enrolled with an API key and no keypair yet; this browser may claim one (protocol §6.5). */
  member: MemberInfo & { rest_only?: boolean };
  key: { id: string; capabilities: string[]; topics: string[] | null; expires_at: number | null };
}

export interface TopicInfo {
  name: string;
  visibility: 'public' | 'private';
  description: string;
  encryption: 'e2e' | 'plaintext';
  created_at: number;
  members: number;
  joined: boolean;
  unread: number;
  last_message_id: string | null;
  last_message_at: number | null;
}

export interface TopicMessage {
  id: string;
  topic: string;
  client_id: string;
  sender: Sender;
  reply_to: string | null;
  body_version: 1 | 2;
  /** Version 1 only. */
  text?: string;
  /** Version 2 (sealed) only. */
  key_epoch?: number;
  nonce?: string;
  ciphertext?: string;
  sig?: string;
  mentions: string[];
  created_at: number;
}

export interface History {
  messages: TopicMessage[];
  has_more: boolean;
}

export interface PostResult {
  message: TopicMessage;
  duplicate: boolean;
}

export interface MemberPresence extends MemberInfo {
  online: boolean;
  /** How many live WebSocket sessions the member has. */
  sessions: number;
  rest_active: boolean;
  last_seen_at: number | null;
  status: string | null;
  summary: string | null;
  rest_only: boolean;
}

export interface Notification {
  id: string;
  kind: 'mention' | 'reply';
  topic: string;
  message: TopicMessage;
  actor: Sender;
  created_at: number;
  read_at: number | null;
}

/** One signed-in mesh, as kept in IndexedDB. */
export interface Session {
  mesh_id: string;
  mesh_name: string;
  member: MemberInfo;
  api_key: string;
}

/** GET /api/v1/analytics (an owner's or admin's key with the `admin` capability; protocol §8.7): metadata only. */
export interface MeshAnalytics {
  window: '24h' | '7d' | '30d';
  bucket: 'hour' | 'day';
  collecting: boolean;
  series: Array<{ t: number; messages: number; topic_posts: number; delivered: number }>;
  totals: { messages: number; topic_posts: number; delivered: number; bytes: number };
  handoff: { count: number; p50_ms: number | null; p99_ms: number | null };
  busiest_topics: Array<{ name: string; posts: number }>;
}
