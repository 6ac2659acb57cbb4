import { Command, CommandRunner, Option } from 'nest-commander';

interface McpOptions {
  mesh?: string;
  tools?: boolean;
  policy?: string;
  approvalMode?: string;
}

/**
 * The push-pipe Claude Code runs as an MCP stdio server (`claude mcp add -s user claudemesh --
 * claudemesh mcp`). The server lives in ../mcp and is imported only here, with the MCP SDK behind
 * it, so every other verb starts without loading either.
 */
@Command({ name: 'mcp', description: 'Run the MCP push-pipe on stdio: inbound messages become Claude Code channel notifications' })
export class McpCommand extends CommandRunner {
  async run(_args: string[], options: McpOptions): Promise<void> {
    const { runMcpPipe } = await import('../mcp/server.js');
    await runMcpPipe({ ...(options.mesh ? { mesh: options.mesh } : {}), tools: options.tools ?? false, ...(options.policy ? { policy: options.policy } : {}), ...(options.approvalMode ? { approvalMode: options.approvalMode } : {}) });
  }

  @Option({ flags: '-m, --mesh <mesh>', description: 'mesh name or id (needed when several are joined)' })
  parseMesh(value: string): string {
    return value;
  }

  @Option({ flags: '--policy <path>', description: 'the policy file tool calls are checked against (default $CLAUDEMESH_HOME/policy.yaml)' })
  parsePolicy(value: string): string {
    return value;
  }

  @Option({ flags: '--approval-mode <mode>', description: 'plan | read-only | write | yolo for tool calls (no terminal: a prompt refuses)' })
  parseApprovalMode(value: string): string {
    return value;
  }

  @Option({ flags: '--tools', description: 'also expose list_peers, send_message, check_messages, set_summary, set_status as MCP tools' })
  parseTools(): boolean {
    return true;
  }
}
