import type { Socket } from 'node:net';
import type WebSocket from 'ws';

const corked = new WeakSet<Socket>();

/**
 * Sends a frame, coalescing every frame written to the same socket during this turn of the event
 * loop into one syscall: the socket is corked on the first send and uncorked in the check phase
 * (setImmediate), after the I/O callbacks of this turn ran. A group commit that releases hundreds
 * of pushes and acks then costs a few writes instead of hundreds, for well under a millisecond.
 */
export function corkedSend(ws: WebSocket, data: string | Buffer): void {
  const socket = (ws as unknown as { _socket?: Socket })._socket;
  if (socket && !corked.has(socket)) {
    corked.add(socket);
    socket.cork();
    setImmediate(() => {
      corked.delete(socket);
      socket.uncork();
    });
  }
  ws.send(data);
}
