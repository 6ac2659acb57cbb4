import type { InboundMessage } from '@claudemesh/core';
import { Command, CommandRunner, Option } from 'nest-commander';
import { connectTo, print, selectMesh } from '../context.js';

interface InboxOptions {
  mesh?: string;
  json?: boolean;
  wait?: number;
}

/** Receives queued messages (and, with --wait, new ones for that long), marking them read. */
@Command({ name: 'inbox', description: 'Receive and print messages waiting for you' })
export class InboxCommand extends CommandRunner {
  async run(_args: string[], options: InboxOptions): Promise<void> {
    const client = await connectTo(selectMesh(options.mesh));
    const received: InboundMessage[] = [];
    client.on('message', (m) => {
      received.push(m);
      print(options.json ?? false, { ...m, body: undefined }, `[${new Date(m.sentAt).toISOString()}] ${m.from.displayName}${m.kind === 'dm' ? '' : ` → ${m.to}`}: ${m.text}`);
    });
    const queued = client.lastHelloAck?.queued ?? 0;
    const deadline = Date.now() + (options.wait ?? 0) * 1000;
    while (received.length < queued || Date.now() < deadline) {
      await new Promise((r) => setTimeout(r, 50));
      if (received.length >= queued && Date.now() >= deadline) break;
    }
    client.markRead(received.map((m) => m.messageId));
    await new Promise((r) => setTimeout(r, 50));
    await client.close();
    if (received.length === 0 && !options.json) process.stdout.write('(no messages)\n');
  }

  @Option({ flags: '-m, --mesh <mesh>', description: 'mesh name or id' })
  parseMesh(value: string): string {
    return value;
  }

  @Option({ flags: '-w, --wait <seconds>', description: 'keep listening for new messages this long' })
  parseWait(value: string): number {
    return Number(value);
  }

  @Option({ flags: '--json', description: 'one JSON object per message' })
  parseJson(): boolean {
    return true;
  }
}
