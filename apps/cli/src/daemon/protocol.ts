import { MessageId, PeerStatus, ReceiptPolicy } from '@claudemesh/core';
import { z } from 'zod';

/**
 * The daemon's local protocol: newline-delimited JSON over a unix socket (0600, in a 0700 dir).
 * Each request carries an id; each answer repeats it. `subscribe` turns the connection into a
 * stream of `event` lines (inbound messages), used by the MCP push-pipe.
 */
const MeshRef = z.object({ mesh_id: z.string().uuid() });

export const DaemonRequest = z.discriminatedUnion('method', [
  z.object({ id: z.number().int(), method: z.literal('ping') }),
  z.object({ id: z.number().int(), method: z.literal('info') }),
  z.object({ id: z.number().int(), method: z.literal('reload') }),
  z.object({ id: z.number().int(), method: z.literal('stop') }),
  z.object({
    id: z.number().int(),
    method: z.literal('send'),
    params: MeshRef.extend({
      to: z.string().min(1),
      plaintext: z.string(),
      client_id: z.string().min(8).max(64).optional(),
      receipts: ReceiptPolicy.optional(),
      /** How long to wait for the broker's ack before answering "queued in the outbox". */
      wait_ms: z.number().int().min(0).max(120_000).optional(),
    }),
  }),
  z.object({ id: z.number().int(), method: z.literal('peers'), params: MeshRef }),
  z.object({ id: z.number().int(), method: z.literal('message_status'), params: MeshRef.extend({ message_ids: z.array(MessageId).min(1).max(500) }) }),
  /** Waits (bounded) until the mesh's session has drained the broker's offline queue into local.db. */
  z.object({ id: z.number().int(), method: z.literal('inbox_ready'), params: MeshRef.extend({ timeout_ms: z.number().int().min(0).max(120_000).optional() }) }),
  z.object({ id: z.number().int(), method: z.literal('mark_read'), params: MeshRef.extend({ message_ids: z.array(MessageId).min(1).max(500) }) }),
  z.object({ id: z.number().int(), method: z.literal('set_status'), params: MeshRef.extend({ status: PeerStatus }) }),
  z.object({ id: z.number().int(), method: z.literal('set_summary'), params: MeshRef.extend({ summary: z.string().max(1024) }) }),
  z.object({ id: z.number().int(), method: z.literal('group'), params: MeshRef.extend({ group: z.string().min(1).max(64), join: z.boolean() }) }),
  /** tags.json changed (peer tag add|remove): advertise what it holds now on the mesh's session. */
  z.object({ id: z.number().int(), method: z.literal('tags'), params: MeshRef }),
  z.object({ id: z.number().int(), method: z.literal('subscribe'), params: z.object({ mesh_id: z.string().uuid().optional() }) }),
]);
export type DaemonRequest = z.infer<typeof DaemonRequest>;
export type DaemonMethod = DaemonRequest['method'];

export interface DaemonErrorBody {
  message: string;
  /** A broker error code (E_…) when the broker refused. */
  code?: string;
  /** The CLI exit code this error maps to. */
  exit_code: number;
}

export type DaemonAnswer = { id: number; ok: true; result: unknown } | { id: number; ok: false; error: DaemonErrorBody };

export interface DaemonEvent {
  event: 'message';
  mesh_id: string;
  message: unknown;
}

export { LineReader } from './lines.js';
