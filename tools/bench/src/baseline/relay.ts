import { WebSocketServer, type WebSocket } from 'ws';

/**
 * The baseline: a minimal WebSocket relay with no authentication, crypto or storage. A client
 * connects with `?id=<n>`; a frame `{"id":…, "to":"<n>|@<group>", "data":…}` is forwarded as
 * `{"from":…, "id":…, "data":…}` to the target(s) and answered with `{"ack":…}`. A frame
 * `{"join":"<group>"}` subscribes the sender to a group.
 */
export function startRelay(port: number, host = '127.0.0.1'): Promise<WebSocketServer> {
  const peers = new Map<string, WebSocket>();
  const groups = new Map<string, Set<string>>();
  const wss = new WebSocketServer({ port, host, maxPayload: 1024 * 1024 });
  wss.on('connection', (ws, req) => {
    const id = new URL(req.url ?? '/', 'http://relay').searchParams.get('id') ?? '';
    peers.set(id, ws);
    ws.on('close', () => peers.delete(id));
    ws.on('message', (raw: Buffer) => {
      const frame = JSON.parse(raw.toString()) as { id?: string; to?: string; data?: string; join?: string };
      if (frame.join) {
        let set = groups.get(frame.join);
        if (!set) groups.set(frame.join, (set = new Set()));
        set.add(id);
        ws.send(JSON.stringify({ ack: 'join' }));
        return;
      }
      const out = JSON.stringify({ from: id, id: frame.id, data: frame.data });
      const targets = frame.to?.startsWith('@') ? [...(groups.get(frame.to.slice(1)) ?? [])].filter((t) => t !== id) : [frame.to ?? ''];
      for (const t of targets) peers.get(t)?.send(out);
      ws.send(JSON.stringify({ ack: frame.id }));
    });
  });
  return new Promise((resolve) => wss.once('listening', () => resolve(wss)));
}

// Run as its own process: node relay.js <port>
if (process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop() ?? '\0')) {
  const port = Number(process.argv[2] ?? 0);
  void startRelay(port).then(() => process.stdout.write(`relay listening on ${port}\n`));
}
