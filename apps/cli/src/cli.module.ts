import { Module } from '@nestjs/common';
import { InboxCommand } from './commands/inbox.command.js';
import { JoinCommand } from './commands/join.command.js';
import { PeersCommand } from './commands/peers.command.js';
import { SendCommand } from './commands/send.command.js';

@Module({ providers: [JoinCommand, PeersCommand, SendCommand, InboxCommand] })
export class CliModule {}
