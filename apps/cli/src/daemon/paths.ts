import { join } from 'node:path';

/** Where the per-user daemon listens and logs, under CLAUDEMESH_HOME. */
export function daemonPaths(home: string): { dir: string; socket: string; log: string; pid: string } {
  const dir = join(home, 'sockets');
  return { dir, socket: join(dir, 'daemon.sock'), log: join(home, 'daemon.log'), pid: join(dir, 'daemon.pid') };
}

/** The longest unix socket path Linux and macOS accept (sun_path holds 108 / 104 bytes with the NUL). */
export const MAX_SOCKET_PATH = process.platform === 'darwin' ? 103 : 107;
