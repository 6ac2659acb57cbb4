import { MeshClient, decodeBody, issueInvite, loadMeshes, type InboundMessage } from '@claudemesh/core';
import { encodeInviteLink } from '@claudemesh/crypto';
import { Client } from '@modelcontextprotocol/sdk/client/index.js';
import { StdioClientTransport } from '@modelcontextprotocol/sdk/client/stdio.js';
import type { CallToolResult } from '@modelcontextprotocol/sdk/types.js';
import { execFile, spawn } from 'node:child_process';
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { DEFAULT_POLICY_TEXT } from '../src/policy/policy-file.js';
import { CLI, cli, json, type CliResult } from './helpers/cli.js';

/** The command tree on a direct connection (no daemon is started) and no admin file but the test's. */
const TREE = { CLAUDEMESH_DAEMON: 'off', CLAUDEMESH_ADMIN_POLICY: '' };
const AUDIT_JS = fileURLToPath(new URL('../dist/policy/audit-log.js', import.meta.url));

interface Entry {
  seq: number;
  source: string;
  resource: string;
  verb: string;
  decision: string;
  mode: string;
  rule: string;
  prompt: string | null;
  peers: string[];
}
const audit = (home: string): Entry[] =>
  readFileSync(join(home, 'audit.log'), 'utf8').trimEnd().split('\n').map((l) => JSON.parse(l) as Entry);
const textOf = (r: unknown): string => ((r as CallToolResult).content[0] as { text: string }).text;

describe('the policy gate, on the real CLI against a live broker', () => {
  let tb: TestBroker;
  let mesh: TestMesh;
  let owner: MeshClient;
  let ann: string;
  const got: InboundMessage[] = [];
  const dirs: string[] = [];
  const dir = (prefix = 'cmh-policy-'): string => {
    const d = mkdtempSync(join(tmpdir(), prefix));
    dirs.push(d);
    return d;
  };
  const run = (home: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> => cli(home, args, { ...TREE, ...env });
  const joined = async (name: string): Promise<string> => {
    const home = dir();
    const { invite } = await issueInvite(tb.url, { meshId: mesh.meshId, meshName: mesh.name, brokerUrl: tb.url, issuer: mesh.owner, maxUses: 1 });
    const r = await run(home, ['join', encodeInviteLink(invite, mesh.meshKey), '--name', name]);
    expect(r.code, r.stderr).toBe(0);
    return home;
  };
  const texts = (): string[] => got.map((m) => decodeBody(m.text).text);
  /** Sends a marker that is allowed; once it arrived, anything refused before it would have arrived first. */
  const settle = async (home: string, env: Record<string, string> = {}): Promise<void> => {
    const marker = `marker ${Math.random()}`;
    const r = await run(home, ['send', 'owner', marker, '--policy', allowAll], env);
    expect(r.code, r.stderr).toBe(0);
    await waitFor(() => texts().includes(marker), 'the marker at the owner');
  };
  const policy = (home: string, text: string): void => writeFileSync(join(home, 'policy.yaml'), text, { mode: 0o600 });
  let allowAll: string;

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    mesh = await createTestMesh(tb, 'pol');
    owner = new MeshClient({ url: tb.wsUrl, meshId: mesh.meshId, identity: mesh.owner, meshKey: mesh.meshKey });
    owner.on('message', (m) => got.push(m));
    await owner.connect();
    allowAll = join(dir(), 'allow-all.yaml');
    writeFileSync(allowAll, 'rules:\n  - { decision: allow }\n');
    ann = await joined('ann');
  });
  afterAll(async () => {
    await owner?.close();
    await tb?.close();
    for (const d of dirs) rmSync(d, { recursive: true, force: true });
  });

  it('writes the commented default policy (0600) on first use; reads and writes run under it, each decision audited', async () => {
    expect(readFileSync(join(ann, 'policy.yaml'), 'utf8')).toBe(DEFAULT_POLICY_TEXT);
    expect(statSync(join(ann, 'policy.yaml')).mode & 0o777).toBe(0o600);
    expect((await run(ann, ['send', 'owner', 'hello under the default'])).code).toBe(0);
    await waitFor(() => texts().includes('hello under the default'), 'the send');
    expect(audit(ann).map((e) => [e.resource, e.verb, e.decision, e.source])).toEqual([
      ['mesh', 'join', 'allow', 'cli'],
      ['message', 'send', 'allow', 'cli'],
    ]);
    expect(statSync(join(ann, 'audit.log')).mode & 0o777).toBe(0o600);
  });

  it('a deny rule stops a send before the broker: exit 6, naming the rule, its line and the rule that would allow it', async () => {
    policy(ann, "rules:\n  - { kind: read, decision: allow }\n  - { resource: 'mess*', verb: send, mesh: 'p?l', peers: ['own*'], decision: deny, reason: owner is busy }\n  - { decision: allow }\n");
    const denied = await run(ann, ['send', 'owner', 'denied one']);
    expect(denied.code).toBe(6);
    expect(denied.stdout).toBe('');
    expect(denied.stderr).toBe(
      `claudemesh: policy: message send owner in mesh "pol" is denied by rule 2 of ${join(ann, 'policy.yaml')} (line 3): "owner is busy"\n  next: to allow it, change that rule or put one above it in ${join(ann, 'policy.yaml')}: - { resource: message, verb: send, mesh: pol, decision: allow }\n`,
    );
    // the first rule that matches decides: a broadcast is not "own*", so rule 3 lets it through
    expect((await run(ann, ['send', '*', 'to everyone'])).code).toBe(0);
    await settle(ann);
    expect(texts()).toContain('to everyone');
    expect(texts()).not.toContain('denied one');
    expect(audit(ann).at(-3)).toMatchObject({ verb: 'send', decision: 'deny', peers: ['owner'], rule: expect.stringContaining('(line 3)') });
  });

  it('--policy overrides the home file; a --policy file that does not exist refuses with exit 2', async () => {
    const ok = await run(ann, ['send', 'owner', 'via --policy', '--policy', allowAll]);
    expect(ok.code, ok.stderr).toBe(0);
    await waitFor(() => texts().includes('via --policy'), 'the send allowed by --policy');
    const missing = await run(ann, ['send', 'owner', 'never', '--policy', join(ann, 'nope.yaml')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toMatch(/no policy file at .*nope\.yaml \(from --policy\)/);
  });

  it('the admin file wins over the user file and over --approval-mode yolo', async () => {
    const adminFile = join(dir(), 'admin-policy.yaml');
    writeFileSync(adminFile, '# set by the administrator\nrules:\n  - { resource: message, verb: send, peers: [owner], decision: deny }\n');
    const r = await run(ann, ['send', 'owner', 'admin says no', '--policy', allowAll, '--approval-mode', 'yolo'], { CLAUDEMESH_ADMIN_POLICY: adminFile });
    expect(r.code).toBe(6);
    expect(r.stderr).toContain(`is denied by rule 1 of the admin policy ${adminFile} (line 3)`);
    expect(r.stderr).toContain('no flag or approval mode overrides it');
    // the admin file only adds rules: a peer list still runs
    expect((await run(ann, ['peers'], { CLAUDEMESH_ADMIN_POLICY: adminFile })).code).toBe(0);
    await settle(ann);
    expect(texts()).not.toContain('admin says no');
  });

  it('plan runs nothing (exit 7), read-only runs reads only (exit 6 for writes), yolo lifts the prompt of mesh leave', async () => {
    policy(ann, DEFAULT_POLICY_TEXT);
    const plan = await run(ann, ['send', 'owner', 'only planned', '--approval-mode', 'plan']);
    expect(plan.code).toBe(7);
    expect(plan.stdout).toMatch(/^plan: message send owner in mesh "pol" would run \(a write; rule 2 of .*policy\.yaml \(line 32\)\)\n$/);
    expect(plan.stderr).toMatch(/approval mode plan \(from --approval-mode\): nothing was run/);
    const planJson = await run(ann, ['mesh', 'leave', '--json'], { CLAUDEMESH_APPROVAL_MODE: 'plan' });
    expect(planJson.code).toBe(7);
    expect(json(planJson)).toMatchObject({ plan: true, resource: 'mesh', verb: 'leave', kind: 'destructive', mesh: 'pol', would: 'prompt' });
    expect(loadMeshes(ann)).toHaveLength(1);

    const ro = await run(ann, ['peers', '--json', '--approval-mode', 'read-only']);
    expect(ro.code, ro.stderr).toBe(0);
    expect(json<Array<{ display_name: string }>>(ro).map((p) => p.display_name).sort()).toEqual(['ann', 'owner']);
    const roSend = await run(ann, ['send', 'owner', 'read-only send', '--approval-mode', 'read-only']);
    expect(roSend.code).toBe(6);
    expect(roSend.stderr).toMatch(/is a write, and approval mode read-only \(from --approval-mode\) runs reads only\n {2}next: run it with --approval-mode write/);
    await settle(ann);
    expect(texts()).not.toContain('only planned');
    expect(texts()).not.toContain('read-only send');

    const bo = await joined('bo');
    const gone = await run(bo, ['mesh', 'leave', '--approval-mode', 'yolo']);
    expect(gone.code, gone.stderr).toBe(0);
    expect(loadMeshes(bo)).toEqual([]);
    expect(audit(bo).at(-1)).toMatchObject({ verb: 'leave', decision: 'allow', mode: 'yolo', rule: 'approval mode yolo' });
  });

  it('without a terminal a prompt refuses and says how to allow it; mesh leave without -y stays exit 2 naming -y', async () => {
    policy(ann, `rules:\n  - { resource: message, verb: send, peers: ['\\*'], decision: prompt }\n${DEFAULT_POLICY_TEXT.slice(DEFAULT_POLICY_TEXT.indexOf('  - { kind: read'))}`);
    const r = await run(ann, ['send', '*', 'a broadcast nobody confirmed']);
    expect(r.code).toBe(6);
    expect(r.stderr).toMatch(/message send \* in mesh "pol" asks for confirmation \(rule 1 of .*\(line 2\)\) and there is no terminal to ask on\n {2}next: run it with --approval-mode yolo, or allow it in .*policy\.yaml \(above rule 1\): - \{ resource: message, verb: send, mesh: pol, decision: allow \}/);
    const leave = await run(ann, ['mesh', 'leave']);
    expect(leave.code).toBe(2);
    expect(leave.stderr).toMatch(/re-run with -y to confirm/);
    expect(loadMeshes(ann)).toHaveLength(1);
    await settle(ann);
    expect(texts()).not.toContain('a broadcast nobody confirmed');
    expect(audit(ann).filter((e) => e.prompt === 'no-tty').map((e) => e.verb)).toEqual(['send', 'leave']);
    policy(ann, DEFAULT_POLICY_TEXT);
  });

  it('on a terminal it asks: n keeps the mesh, y leaves it (script(1) gives the CLI a pty)', async () => {
    const cy = await joined('cy');
    const onTty = (answer: string) =>
      new Promise<{ code: number | null; out: string }>((resolve) => {
        const child = spawn('script', ['-qec', `${process.execPath} ${CLI} mesh leave`, '/dev/null'], { env: { ...process.env, ...TREE, CLAUDEMESH_HOME: cy } });
        let out = '';
        let answered = false;
        // The pty may close before a late write lands; the exit code and output are what is checked.
        child.stdin.on('error', () => undefined);
        child.stdout.on('data', (d: Buffer) => {
          out += d.toString();
          if (!answered && out.includes('[y/N]')) {
            answered = true;
            child.stdin.write(`${answer}\n`);
          }
        });
        child.on('exit', (code) => resolve({ code, out }));
      });
    const no = await onTty('n');
    expect(no.out).toMatch(/mesh leave in mesh "pol" is destructive and rule 3 of .*policy\.yaml \(line 33\) asks first\. Run it\? \[y\/N\]/);
    expect(no.out).toContain('not confirmed: mesh leave in mesh "pol" was not run');
    expect(no.code).toBe(6);
    expect(loadMeshes(cy)).toHaveLength(1);
    const yes = await onTty('y');
    expect(yes.code, yes.out).toBe(0);
    expect(yes.out).toContain('left "pol" on this machine');
    expect(loadMeshes(cy)).toEqual([]);
    expect(audit(cy).slice(-2).map((e) => e.prompt)).toEqual(['no', 'yes']);
  });

  it('the fast path is gated too: it refuses a denied send itself, through the daemon, and nothing reaches the broker', async () => {
    const daemonEnv = { CLAUDEMESH_ADMIN_POLICY: '' };
    expect((await cli(ann, ['daemon', 'start'], daemonEnv)).code).toBe(0);
    try {
      policy(ann, 'rules:\n  - { verb: send, peers: [owner], decision: deny }\n');
      const only = { ...daemonEnv, CLAUDEMESH_FAST: 'only' };
      const denied = await cli(ann, ['send', 'owner', 'fast but denied'], only);
      expect(denied.code).toBe(6); // answered by the fast path (else 99)
      expect(denied.stderr).toMatch(/^claudemesh: policy: message send owner in mesh "pol" is denied by rule 1 of .*\(line 2\)\n {2}next: /);
      expect(await cli(ann, ['send', 'owner', 'fast but denied'], { ...daemonEnv, CLAUDEMESH_FAST: 'off' })).toMatchObject({ code: 6, stderr: denied.stderr });
      const plan = await cli(ann, ['peers', '--approval-mode', 'plan'], only);
      expect(plan.code).toBe(7);
      const ok = await cli(ann, ['send', 'owner', 'fast and allowed', '--policy', allowAll], only);
      expect(ok.code, ok.stderr).toBe(0);
      await waitFor(() => texts().includes('fast and allowed'), 'the fast send');
      expect(texts()).not.toContain('fast but denied');
      expect(audit(ann).slice(-4).map((e) => [e.source, e.decision])).toEqual([
        ['fast', 'deny'],
        ['cli', 'deny'],
        ['fast', 'plan'],
        ['fast', 'allow'],
      ]);
    } finally {
      await cli(ann, ['daemon', 'stop'], daemonEnv);
      policy(ann, DEFAULT_POLICY_TEXT);
    }
  });

  it('MCP tool calls pass the same gate with no terminal: a prompt or a deny is an isError result and nothing is sent', async () => {
    policy(ann, 'rules:\n  - { resource: message, verb: send, peers: [owner], decision: prompt }\n  - { decision: allow }\n');
    const connect = async (args: string[]) => {
      const transport = new StdioClientTransport({ command: process.execPath, args: [CLI, 'mcp', '--tools', ...args], env: { ...(process.env as Record<string, string>), ...TREE, CLAUDEMESH_HOME: ann }, stderr: 'pipe' });
      let stderr = '';
      transport.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
      const client = new Client({ name: 'policy-spec', version: '0.0.0' });
      await client.connect(transport);
      await waitFor(() => stderr.includes('connected to pol as ann'), 'the pipe on the mesh');
      return client;
    };
    const pipe = await connect([]);
    try {
      const sent = await pipe.callTool({ name: 'send_message', arguments: { to: 'owner', text: 'claude asks nobody' } });
      expect(sent.isError).toBe(true);
      expect(textOf(sent)).toMatch(/^policy: message send owner in mesh "pol" asks for confirmation \(rule 1 of .*\) and there is no terminal to ask on\n {2}next: run it with --approval-mode yolo/);
      const peers = await pipe.callTool({ name: 'list_peers', arguments: {} });
      expect(peers.isError, textOf(peers)).toBeFalsy();
    } finally {
      await pipe.close();
    }
    const readOnly = await connect(['--approval-mode', 'read-only']);
    try {
      const status = await readOnly.callTool({ name: 'set_status', arguments: { status: 'working' } });
      expect(status.isError).toBe(true);
      expect(textOf(status)).toMatch(/status set in mesh "pol" is a write, and approval mode read-only/);
      expect((await readOnly.callTool({ name: 'check_messages', arguments: {} })).isError).toBeFalsy();
    } finally {
      await readOnly.close();
    }
    await settle(ann);
    expect(texts()).not.toContain('claude asks nobody');
    expect(audit(ann).filter((e) => e.source === 'mcp').map((e) => [`${e.resource} ${e.verb}`, e.decision, e.prompt])).toEqual([
      ['message send', 'deny', 'no-tty'],
      ['peer list', 'allow', null],
      ['status set', 'deny', null],
      ['message read', 'allow', null],
    ]);
    policy(ann, DEFAULT_POLICY_TEXT);
  });

  it('audit verify passes on the real log and fails (exit 1) on an edited, deleted, reordered or truncated log', async () => {
    const ok = await run(ann, ['audit', 'verify', '--json']);
    expect(ok.code, ok.stderr).toBe(0);
    const report = json<{ ok: boolean; entries: number; last_hash: string }>(ok);
    expect(report).toMatchObject({ ok: true, entries: audit(ann).length });
    expect((await run(ann, ['audit', 'verify', '--anchor', report.last_hash])).stdout).toMatch(/^audit log ok: \d+ entries/);
    const lines = readFileSync(join(ann, 'audit.log'), 'utf8').trimEnd().split('\n');
    const tampered = (kind: string, edit: (l: string[]) => string[]): string => {
      const home = dir(`cmh-policy-${kind}-`);
      copyFileSync(join(ann, 'audit.log.head'), join(home, 'audit.log.head'));
      writeFileSync(join(home, 'audit.log'), edit([...lines]).map((l) => `${l}\n`).join(''));
      return home;
    };
    const cases: Array<[string, (l: string[]) => string[], RegExp]> = [
      ['edited', (l) => [l[0]!, l[1]!.replace('"decision":"allow"', '"decision":"deny"'), ...l.slice(2)], /^line 2: does not match its own hash: the line was edited$/m],
      ['deleted', (l) => [l[0]!, l[1]!, ...l.slice(3)], /^line 3: is entry 4 where entry 3 belongs/m],
      ['reordered', (l) => [l[0]!, l[2]!, l[1]!, ...l.slice(3)], /^line 2: is entry 3 where entry 2 belongs/m],
      ['truncated', (l) => l.slice(0, -2), /^log: audit\.log\.head records \d+ entries but the log ends at entry \d+: it was truncated \(the last 2 removed\)$/m],
    ];
    for (const [kind, edit, problem] of cases) {
      const r = await run(tampered(kind, edit), ['audit', 'verify']);
      expect(r.code, kind).toBe(1);
      expect(r.stdout, kind).toMatch(problem);
      expect(r.stderr, kind).toMatch(/fails verification .*\n {2}next: keep a copy of it as evidence/);
    }
    const shown = await run(ann, ['audit', 'show', '-n', '2']);
    expect(shown.stdout.trimEnd().split('\n')).toHaveLength(2);
  });

  it('concurrent processes append without breaking the chain: CLI verbs and raw appenders in parallel', async () => {
    const home = dir();
    const verbs = Array.from({ length: 8 }, () => run(home, ['peers', '--approval-mode', 'plan']));
    const appender = `import { appendAudit } from ${JSON.stringify(AUDIT_JS)};
for (let i = 0; i < 40; i++) appendAudit(process.env.CLAUDEMESH_HOME, { ts: new Date().toISOString(), source: 'cli', pid: process.pid, resource: 'peer', verb: 'list', kind: 'read', mesh: null, mesh_id: null, peers: [], mode: 'write', decision: 'allow', rule: 'spec', prompt: null });`;
    const raw = Array.from({ length: 5 }, () => promisify(execFile)(process.execPath, ['--input-type=module', '-e', appender], { env: { ...process.env, CLAUDEMESH_HOME: home } }));
    const results = await Promise.all(verbs);
    await Promise.all(raw);
    expect(results.map((r) => r.code)).toEqual(Array(8).fill(7));
    const entries = audit(home);
    expect(entries).toHaveLength(8 + 5 * 40);
    expect(entries.map((e) => e.seq)).toEqual(entries.map((_, i) => i + 1));
    const verified = await run(home, ['audit', 'verify']);
    expect(verified.code, verified.stdout).toBe(0);
    expect(verified.stdout).toContain(`audit log ok: ${8 + 5 * 40} entries`);
    expect(existsSync(join(home, 'audit.log.lock'))).toBe(false);
  });
});
