import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { builtinDefaultPolicy, DEFAULT_POLICY_TEXT, loadPolicies, resolveMode, type PolicyFileError } from './policy-file.js';
import { parsePolicyYaml } from './policy-yaml.js';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'cmh-policy-file-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const parseError = (text: string, origin: 'user' | 'admin' = 'user'): string => {
  try {
    parsePolicyYaml(text, '/p.yaml', origin);
  } catch (e) {
    return (e as Error).message;
  }
  throw new Error('parsed');
};

describe('policy files', () => {
  it('the default file parses to exactly what the verbs use without loading the YAML parser', () => {
    expect(builtinDefaultPolicy('/h/policy.yaml')).toEqual(parsePolicyYaml(DEFAULT_POLICY_TEXT, '/h/policy.yaml', 'user'));
    expect(builtinDefaultPolicy('/h/policy.yaml').rules.map((r) => r.line)).toEqual([31, 32, 33]);
  });

  it('reads rules with scalars or lists, their line numbers, mode and reason', () => {
    const p = parsePolicyYaml(
      ['version: 1', 'mode: read-only', 'rules:', "  - { resource: message, verb: [send], peers: ['\\*', '@ops'], decision: prompt, reason: broadcasts }", '  - mesh: 2024', '    decision: deny', ''].join('\n'),
      '/p.yaml',
      'user',
    );
    expect(p).toEqual({
      origin: 'user',
      file: '/p.yaml',
      mode: 'read-only',
      rules: [
        { index: 1, line: 4, resource: ['message'], verb: ['send'], peers: ['\\*', '@ops'], decision: 'prompt', reason: 'broadcasts' },
        { index: 2, line: 5, mesh: ['2024'], decision: 'deny' },
      ],
    });
    expect(parsePolicyYaml('', '/p.yaml', 'user').rules).toEqual([]);
    expect(parsePolicyYaml('rules:\n', '/p.yaml', 'user').rules).toEqual([]);
  });

  it('refuses what it does not understand, naming the file and line', () => {
    expect(parseError('allow:\n  - "*"\n')).toBe('/p.yaml line 1: unknown key "allow" (a policy has version, mode, rules)');
    expect(parseError('rules:\n  - { kind: read, decision: allow }\n  - { verbs: send, decision: deny }\n')).toMatch(/^\/p\.yaml line 3: rule 2 has unknown key verbs/);
    expect(parseError('rules:\n  - { verb: send, decision: maybe }\n')).toMatch(/^\/p\.yaml line 2: rule 1 needs decision: allow \| prompt \| deny \(got "maybe"\)/);
    expect(parseError('rules:\n  - { verb: send }\n')).toMatch(/rule 1 needs decision/);
    expect(parseError('rules:\n  - { kind: delete, decision: deny }\n')).toMatch(/kind "delete" is not one of read, write, destructive/);
    expect(parseError('rules:\n  - { peers: [], decision: deny }\n')).toMatch(/peers is an empty list/);
    expect(parseError('mode: careful\n')).toMatch(/^\/p\.yaml line 1: mode must be plan, read-only, write, yolo/);
    expect(parseError('version: 2\n')).toMatch(/version 2: this claudemesh reads version 1/);
    expect(parseError('rules: { a: 1 }\n')).toMatch(/line 1: rules is a list/);
    expect(parseError('rules:\n  - { verb: send, decision: deny\n')).toMatch(/^\/p\.yaml line \d+: /);
    expect(parseError('mode: write\nmode: yolo\n')).toMatch(/line 2: .*(unique|duplicate)/i);
    expect(parseError('mode: write\n', 'admin')).toMatch(/an admin policy sets no mode/);
  });

  it('writes the commented default (0600) on first use, and reads --policy or CLAUDEMESH_POLICY instead when given', async () => {
    const home = join(tmp(), 'home');
    const loaded = await loadPolicies({ home, env: {} });
    const file = join(home, 'policy.yaml');
    expect(readFileSync(file, 'utf8')).toBe(DEFAULT_POLICY_TEXT);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(home).mode & 0o777).toBe(0o700);
    expect(loaded.user).toEqual(builtinDefaultPolicy(file));
    // an edited file is parsed for real
    writeFileSync(file, 'rules:\n  - { decision: deny }\n');
    expect((await loadPolicies({ home, env: {} })).user.rules).toEqual([{ index: 1, line: 2, decision: 'deny' }]);

    const other = join(tmp(), 'other.yaml');
    writeFileSync(other, 'mode: plan\n');
    expect((await loadPolicies({ home, env: {}, policyPath: other })).user).toMatchObject({ file: other, mode: 'plan' });
    expect((await loadPolicies({ home, env: { CLAUDEMESH_POLICY: other } })).user.file).toBe(other);
    const missing = join(tmp(), 'nope.yaml');
    await expect(loadPolicies({ home, env: {}, policyPath: missing })).rejects.toThrow(/no policy file at .*nope\.yaml \(from --policy\)/);
    expect(existsSync(missing)).toBe(false);
  });

  it('remembers an edited user policy by its path and text (never an admin file), and sees every edit', async () => {
    const home = tmp();
    const file = join(home, 'policy.yaml');
    const adminFile = join(tmp(), 'admin.yaml');
    writeFileSync(adminFile, 'rules:\n  - { verb: leave, decision: deny }\n');
    writeFileSync(file, 'rules:\n  - { verb: send, decision: deny }\n');
    const first = await loadPolicies({ home, env: { CLAUDEMESH_ADMIN_POLICY: adminFile } });
    const cache = JSON.parse(readFileSync(join(home, 'cache', 'policy.json'), 'utf8')) as { policy: unknown };
    expect(cache.policy).toEqual(first.user);
    expect(JSON.stringify(cache)).not.toContain('leave');
    // a cache entry stands only for that exact text: the edit is read at once
    writeFileSync(file, 'rules:\n  - { verb: send, decision: allow }\n');
    expect((await loadPolicies({ home, env: {} })).user.rules).toEqual([{ index: 1, line: 2, verb: ['send'], decision: 'allow' }]);
    expect(statSync(join(home, 'cache', 'policy.json')).mode & 0o777).toBe(0o600);
  });

  it('adds the admin file from CLAUDEMESH_ADMIN_POLICY ahead of the user file; a broken one is an admin error', async () => {
    const home = tmp();
    const adminFile = join(tmp(), 'admin-policy.yaml');
    writeFileSync(adminFile, 'rules:\n  - { resource: mesh, verb: leave, decision: deny }\n');
    const loaded = await loadPolicies({ home, env: { CLAUDEMESH_ADMIN_POLICY: adminFile } });
    expect(loaded.policies.map((p) => [p.origin, p.file])).toEqual([
      ['admin', adminFile],
      ['user', join(home, 'policy.yaml')],
    ]);
    writeFileSync(adminFile, 'rules: [\n');
    const error = await loadPolicies({ home, env: { CLAUDEMESH_ADMIN_POLICY: adminFile } }).catch((e: PolicyFileError) => e);
    expect(error).toMatchObject({ origin: 'admin', message: expect.stringContaining(adminFile) });
  });

  it('takes the approval mode from --approval-mode, then CLAUDEMESH_APPROVAL_MODE, then the file, then write', () => {
    const file = { origin: 'user' as const, file: '/p', mode: 'plan' as const, rules: [] };
    expect(resolveMode('yolo', { CLAUDEMESH_APPROVAL_MODE: 'read-only' }, file)).toEqual({ mode: 'yolo', source: '--approval-mode' });
    expect(resolveMode(undefined, { CLAUDEMESH_APPROVAL_MODE: 'read-only' }, file)).toEqual({ mode: 'read-only', source: 'CLAUDEMESH_APPROVAL_MODE' });
    expect(resolveMode(undefined, {}, file)).toEqual({ mode: 'plan', source: 'policy' });
    expect(resolveMode(undefined, {}, { ...file, mode: undefined })).toEqual({ mode: 'write', source: 'default' });
    expect(() => resolveMode('careful', {}, null)).toThrow('--approval-mode must be plan, read-only, write, yolo (got "careful")');
    expect(() => resolveMode(undefined, { CLAUDEMESH_APPROVAL_MODE: 'YOLO' }, null)).toThrow(/CLAUDEMESH_APPROVAL_MODE must be/);
  });
});
