import { Module } from '@nestjs/common';
import { InboxCommand } from './commands/inbox.command.js';
import { InstallCommand } from './commands/install.command.js';
import { LaunchCommand } from './commands/launch.command.js';
import { McpCommand } from './commands/mcp.command.js';
import { StatusLineCommand } from './commands/status-line.command.js';
import { UninstallCommand } from './commands/uninstall.command.js';
import { JoinCommand } from './commands/join.command.js';
import { PeersCommand } from './commands/peers.command.js';
import { SendCommand } from './commands/send.command.js';

@Module({ providers: [JoinCommand, PeersCommand, SendCommand, InboxCommand, McpCommand, InstallCommand, UninstallCommand, LaunchCommand, StatusLineCommand] })
export class CliModule {}
