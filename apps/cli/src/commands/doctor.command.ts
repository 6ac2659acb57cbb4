import { ProtocolError, claudemeshHome, httpBaseOf, loadMeshes } from '@claudemesh/core';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'nest-commander';
import { CliError, EXIT, MeshVerb, connectTo, type CommonOptions } from '../context.js';
import { DaemonClient } from '../daemon/client.js';
import { daemonPaths } from '../daemon/paths.js';
import { netCause, type NetFailure } from '../net-cause.js';
import { LocalStore } from '../store/local-store.js';
import { claudemeshOnPathCheck } from '../claude/path-check.js';
import { safeLine } from '../terminal-text.js';

interface Check {
  check: string;
  ok: boolean;
  detail: string;
  fix?: string;
  /** Not tried because an earlier check already names the cause (not counted as a failure). */
  skipped?: boolean;
}

/** How long the session check may take: a broker that accepts but never answers is a finding, not a hang. */
const HELLO_BUDGET_MS = 5_000;

/** `doctor`: checks each layer a message crosses on this machine, and says how to fix what fails. */
@Command({ name: 'doctor', description: 'Check home, keys, local store, broker and Claude Code integration' })
export class DoctorCommand extends MeshVerb {
  async run(_args: string[], options: CommonOptions): Promise<void> {
    const checks: Check[] = [];
    const home = claudemeshHome();
    checks.push(homeCheck(home));
    const meshes = loadMeshes(home).filter((m) => !options.mesh || m.mesh_id === options.mesh || m.mesh_name === options.mesh);
    checks.push(
      meshes.length > 0
        ? { check: 'meshes', ok: true, detail: meshes.map((m) => `${m.mesh_name} as ${m.display_name}`).join(', ') }
        : { check: 'meshes', ok: false, detail: 'no mesh joined', fix: "claudemesh join '<invite link>' --name <you>" },
    );
    for (const m of meshes) {
      const file = join(home, 'meshes', `${m.mesh_id}.json`);
      const mode = statSync(file).mode & 0o777;
      checks.push(mode & 0o077 ? { check: `keys ${m.mesh_name}`, ok: false, detail: `${file} is mode ${mode.toString(8)}`, fix: `chmod 600 ${file}` } : { check: `keys ${m.mesh_name}`, ok: true, detail: 'mode 600' });
    }
    checks.push(storeCheck(home));
    for (const m of meshes) {
      const broker = await brokerCheck(m.broker_url, m.mesh_name);
      checks.push(broker, broker.ok ? await helloCheck(m) : { check: `session ${m.mesh_name}`, ok: false, skipped: true, detail: 'not tried: the broker is unreachable (above)' });
    }
    checks.push(...(await daemonChecks(home)));
    checks.push(claudeCheck(), claudemeshOnPathCheck());

    if (options.json) process.stdout.write(`${JSON.stringify(checks)}\n`);
    else for (const c of checks) process.stdout.write(`${c.ok ? '✓' : c.skipped ? '-' : '✗'} ${safeLine(c.check).padEnd(24)} ${safeLine(c.detail)}${c.fix ? `\n    fix: ${safeLine(c.fix)}` : ''}\n`);
    // Claude Code and the PATH launcher are advice: messaging works without them.
    const failed = checks.filter((c) => !c.ok && !c.skipped && c.check !== 'claude code' && c.check !== 'claudemesh on PATH');
    if (failed.length > 0) throw new CliError(`${failed.length} check${failed.length === 1 ? '' : 's'} failed`, EXIT.failure);
  }
}

function homeCheck(home: string): Check {
  if (!existsSync(home)) return { check: 'home', ok: false, detail: `${home} does not exist`, fix: "claudemesh join '<invite link>' creates it" };
  const mode = statSync(home).mode & 0o777;
  return mode & 0o077 ? { check: 'home', ok: false, detail: `${home} is mode ${mode.toString(8)}`, fix: `chmod 700 ${home}` } : { check: 'home', ok: true, detail: home };
}

function storeCheck(home: string): Check {
  try {
    const store = LocalStore.open(home);
    store.close();
    return { check: 'local store', ok: true, detail: join(home, 'local.db') };
  } catch (error) {
    return { check: 'local store', ok: false, detail: (error as Error).message, fix: `move ${join(home, 'local.db')} aside and retry` };
  }
}

/** What to do about each way of not reaching a broker. */
const NET_FIX: Record<NetFailure, string> = {
  refused: 'start the broker (npm start in its checkout), or check the host and port: claudemesh whoami shows the URL; messages you send wait in the outbox',
  dns: 'check the host name in the broker URL (claudemesh whoami shows it) and your DNS',
  tls: 'check the broker certificate (or use http:// for a broker without TLS)',
  timeout: 'the host does not answer: a firewall, a VPN, or a stopped machine',
  unreachable: 'check your network (no route to the host)',
  reset: 'something closed the connection: a proxy, or a broker restarting; retry in a moment',
  http: 'the URL does not point at a claudemesh broker (a proxy or another server answered)',
};

async function brokerCheck(url: string, meshName: string): Promise<Check> {
  const readyz = `${httpBaseOf(url)}/readyz`;
  try {
    const res = await fetch(readyz, { signal: AbortSignal.timeout(3000) });
    return res.ok ? { check: `broker ${meshName}`, ok: true, detail: `${url} ready` } : { check: `broker ${meshName}`, ok: false, detail: `${url} answers ${res.status} on /readyz (its database is unavailable)`, fix: 'ask the broker operator; messages you send wait in the outbox' };
  } catch (error) {
    const cause = netCause(error, readyz);
    return { check: `broker ${meshName}`, ok: false, detail: `unreachable: ${cause?.text ?? `${(error as Error).message} (${readyz})`}`, fix: cause ? NET_FIX[cause.kind] : 'is the broker running and the URL right? (claudemesh whoami shows it)' };
  }
}

/** Refusals of the hello, and what they mean for the person. */
const HELLO_FIX: Record<string, string> = {
  E_NOT_MEMBER: 'this broker does not know your member key (membership revoked or never completed); ask for a new invite and run claudemesh join',
  E_REVOKED: 'your membership was revoked; ask the mesh owner for a new invite',
  E_UNKNOWN_MESH: 'this broker no longer knows the mesh (reset or another broker at that URL); ask the owner where the mesh lives now',
  E_BAD_SIGNATURE: 'the broker rejected your signature: check the machine clock, then re-join if it persists',
  E_STALE_TIMESTAMP: 'the machine clock is off; fix the time (NTP) and retry',
};

async function helloCheck(mesh: ReturnType<typeof loadMeshes>[number]): Promise<Check> {
  const check = `session ${mesh.mesh_name}`;
  let timer: NodeJS.Timeout | undefined;
  const connecting = connectTo(mesh);
  try {
    const client = await Promise.race([
      connecting,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`no hello answer from ${mesh.broker_url} within ${HELLO_BUDGET_MS / 1000} s`)), HELLO_BUDGET_MS);
      }),
    ]);
    const queued = client.lastHelloAck?.queued ?? 0;
    await client.close();
    return { check, ok: true, detail: `authenticated; ${queued} message${queued === 1 ? '' : 's'} were waiting (now in the local inbox)` };
  } catch (error) {
    void connecting.then((c) => c.close()).catch(() => undefined);
    if (error instanceof ProtocolError) return { check, ok: false, detail: `the broker refused the hello: ${error.message} [${error.code}]`, fix: HELLO_FIX[error.code] ?? 'see claudemesh daemon status and daemon.log' };
    const unreachable = error instanceof CliError && error.exitCode === EXIT.unreachable;
    return { check, ok: false, detail: (error as Error).message, fix: unreachable ? 'the broker answered /readyz but not the WebSocket: a proxy without WebSocket support?' : 'see claudemesh daemon status and daemon.log' };
  } finally {
    clearTimeout(timer);
  }
}

interface DaemonMesh {
  mesh_name: string;
  state?: string;
  cause?: string;
  since?: number;
  outbox: number;
}

/** The daemon's own view: whether it runs, and per mesh its connection state and what waits in its outbox. */
async function daemonChecks(home: string): Promise<Check[]> {
  let client: DaemonClient;
  try {
    client = await DaemonClient.connect(daemonPaths(home).socket, 1_000);
  } catch {
    return [{ check: 'daemon', ok: true, detail: 'not running (verbs start it on demand)' }];
  }
  try {
    const info = (await client.call('info')) as { pid: number; meshes: DaemonMesh[] };
    return [
      { check: 'daemon', ok: true, detail: `running (pid ${info.pid})` },
      ...info.meshes.map((m): Check => {
        const waiting = m.outbox > 0 ? `; ${m.outbox} message${m.outbox === 1 ? '' : 's'} in the outbox` : '';
        if (m.state === 'connected' || m.state === undefined) return { check: `daemon ${m.mesh_name}`, ok: true, detail: `connected${waiting}` };
        if (m.state === 'connecting' && !m.cause) return { check: `daemon ${m.mesh_name}`, ok: true, detail: `connecting (first attempt)${waiting}` };
        const since = m.since ? ` since ${new Date(m.since).toISOString()}` : '';
        return { check: `daemon ${m.mesh_name}`, ok: false, detail: `${m.state}${since}${m.cause ? `: ${m.cause}` : ''}${waiting}`, fix: m.state === 'refused' ? 'see the session check above' : 'it reconnects by itself once the broker answers; queued sends go out then' };
      }),
    ];
  } finally {
    client.close();
  }
}
function claudeCheck(): Check {
  const config = join(process.env['HOME'] ?? homedir(), '.claude.json');
  try {
    const parsed = existsSync(config) ? (JSON.parse(readFileSync(config, 'utf8') || '{}') as { mcpServers?: Record<string, unknown> }) : {};
    return parsed.mcpServers?.['claudemesh']
      ? { check: 'claude code', ok: true, detail: 'MCP server registered' }
      : { check: 'claude code', ok: false, detail: 'MCP server not registered (optional)', fix: 'claudemesh install' };
  } catch {
    return { check: 'claude code', ok: false, detail: `${config} is not valid JSON`, fix: `repair ${config}` };
  }
}
