import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * What every log line written while handling one REST request or one WebSocket connection
 * carries: the request's id, or the connection's short id and, after hello, its member and mesh.
 * Mutable: the gateway adds the member once hello completes.
 */
export interface LogContext {
  req_id?: string;
  conn_id?: string;
  member_id?: string;
  mesh_id?: string;
}

export const logContext = new AsyncLocalStorage<LogContext>();
