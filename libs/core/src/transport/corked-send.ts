import type { Socket } from 'node:net';
import type WebSocket from 'ws';

const corked = new WeakSet<Socket>();

/**
 * Sends a frame, coalescing every frame written to the same socket in this tick into one
 * syscall: the socket is corked on the first send and uncorked on the next tick. A group commit
 * that releases hundreds of pushes and acks then costs a few writes instead of hundreds.
 */
export function corkedSend(ws: WebSocket, data: string | Buffer): void {
  const socket = (ws as unknown as { _socket?: Socket })._socket;
  if (socket && !corked.has(socket)) {
    corked.add(socket);
    socket.cork();
    process.nextTick(() => {
      corked.delete(socket);
      socket.uncork();
    });
  }
  ws.send(data);
}
