import { claudemeshHome, httpBaseOf, loadMeshes } from '@claudemesh/core';
import { existsSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { Command } from 'nest-commander';
import { CliError, EXIT, MeshVerb, connectTo, type CommonOptions } from '../context.js';
import { LocalStore } from '../store/local-store.js';
import { claudemeshOnPathCheck } from '../claude/path-check.js';
import { safeLine } from '../terminal-text.js';

interface Check {
  check: string;
  ok: boolean;
  detail: string;
  fix?: string;
}

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
    for (const m of meshes) checks.push(await brokerCheck(m.broker_url, m.mesh_name), await helloCheck(m));
    checks.push(claudeCheck(), claudemeshOnPathCheck());

    if (options.json) process.stdout.write(`${JSON.stringify(checks)}\n`);
    else for (const c of checks) process.stdout.write(`${c.ok ? '✓' : '✗'} ${safeLine(c.check).padEnd(24)} ${safeLine(c.detail)}${c.fix ? `\n    fix: ${safeLine(c.fix)}` : ''}\n`);
    // Claude Code and the PATH launcher are advice: messaging works without them.
    const failed = checks.filter((c) => !c.ok && c.check !== 'claude code' && c.check !== 'claudemesh on PATH');
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

async function brokerCheck(url: string, meshName: string): Promise<Check> {
  try {
    const res = await fetch(`${httpBaseOf(url)}/readyz`, { signal: AbortSignal.timeout(3000) });
    return res.ok ? { check: `broker ${meshName}`, ok: true, detail: `${url} ready` } : { check: `broker ${meshName}`, ok: false, detail: `${url} answers ${res.status} on /readyz (its database is unavailable)`, fix: 'ask the broker operator; messages you send wait in the outbox' };
  } catch (error) {
    return { check: `broker ${meshName}`, ok: false, detail: `${url} unreachable (${(error as Error).message})`, fix: 'is the broker running and the URL right? (claudemesh whoami shows it)' };
  }
}

async function helloCheck(mesh: ReturnType<typeof loadMeshes>[number]): Promise<Check> {
  try {
    const client = await connectTo(mesh);
    const queued = client.lastHelloAck?.queued ?? 0;
    await client.close();
    return { check: `session ${mesh.mesh_name}`, ok: true, detail: `authenticated; ${queued} message${queued === 1 ? '' : 's'} were waiting (now in the local inbox)` };
  } catch (error) {
    return { check: `session ${mesh.mesh_name}`, ok: false, detail: (error as Error).message, fix: 'if your membership was revoked, ask for a new invite' };
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
