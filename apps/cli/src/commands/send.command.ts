import { Command, CommandRunner, Option } from 'nest-commander';
import { connectTo, print, selectMesh } from '../context.js';

interface SendOptions {
  mesh?: string;
  json?: boolean;
}

@Command({ name: 'send', arguments: '<to> <message...>', description: 'Send an end-to-end encrypted message to a name, pubkey, @group or *' })
export class SendCommand extends CommandRunner {
  async run([to, ...words]: string[], options: SendOptions): Promise<void> {
    const client = await connectTo(selectMesh(options.mesh));
    try {
      const ack = await client.send(to!, words.join(' '));
      print(options.json ?? false, ack, `sent to ${to} (message ${ack.message_id}, ${ack.recipients} recipient${ack.recipients === 1 ? '' : 's'}, stored by the broker)`);
    } finally {
      await client.close();
    }
  }

  @Option({ flags: '-m, --mesh <mesh>', description: 'mesh name or id (needed when several are joined)' })
  parseMesh(value: string): string {
    return value;
  }

  @Option({ flags: '--json', description: 'machine-readable output' })
  parseJson(): boolean {
    return true;
  }
}
