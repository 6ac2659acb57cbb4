import type { StoredMesh } from '@claudemesh/core';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { CHANNEL_METHOD, type ChannelNotification } from './channel.js';

/** The one command that puts this machine on a mesh; the invite link comes from a mesh owner or admin. */
export const JOIN_COMMAND = "claudemesh join '<invite link>' --name <your-name>";

const howToJoin = (home: string): string =>
  `To join, run (in a terminal, or with Bash): ${JOIN_COMMAND}\n` +
  `Ask a mesh owner or admin for the invite link (they make one with: claudemesh mesh invite). ` +
  `This session picks the mesh up by itself once it is joined under ${home}: no restart needed.`;

/**
 * The channel event a session gets when the pipe starts with no mesh joined: Claude Code would
 * otherwise show a working MCP server that never says anything. Kind `setup`, string-only meta.
 */
export function notJoinedNotice(home: string): ChannelNotification {
  return {
    method: CHANNEL_METHOD,
    params: {
      content: `claudemesh: this session is not on a mesh yet — no mesh is joined on this machine.\n${howToJoin(home)}`,
      meta: { kind: 'setup', state: 'not_joined', command: JOIN_COMMAND, home },
    },
  };
}

/** Sent once the waited-for mesh is joined, so the session knows messages will come now. */
export function joinedNotice(mesh: StoredMesh): ChannelNotification {
  return {
    method: CHANNEL_METHOD,
    params: {
      content: `claudemesh: joined "${mesh.mesh_name}" as ${mesh.display_name}; messages from its peers arrive here from now on (see who is there: claudemesh peer list).`,
      meta: { kind: 'setup', state: 'joined', mesh: mesh.mesh_name, mesh_id: mesh.mesh_id, display_name: mesh.display_name },
    },
  };
}

/** Every tool call while no mesh is joined answers with how to join (isError: nothing was done). */
export function notJoinedToolResult(toolsEnabled: boolean, name: string, home: string): CallToolResult {
  const what = toolsEnabled ? `${name} needs a mesh, and none is joined on this machine yet.` : `this pipe exposes no tools (start it with claudemesh mcp --tools), and no mesh is joined on this machine yet.`;
  return { content: [{ type: 'text', text: `${what}\n${howToJoin(home)}` }], isError: true };
}
