import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EXIT } from '../exit-codes.js';
import { readAudit, verifyAudit } from './audit-log.js';
import { enforce, type GateContext } from './gate.js';
import type { GateRequest } from './rules.js';

const dirs: string[] = [];
const tmp = (): string => {
  const d = mkdtempSync(join(tmpdir(), 'cmh-gate-'));
  dirs.push(d);
  return d;
};
afterAll(() => dirs.forEach((d) => rmSync(d, { recursive: true, force: true })));

const team = { name: 'team', id: '0b6f7c1e-3a9d-4c2b-9e1f-5d8a7b6c4e21' };
const send: GateRequest = { resource: 'message', verb: 'send', mesh: team, peers: ['bob'] };
const leave: GateRequest = { resource: 'mesh', verb: 'leave', mesh: team, peers: [] };

function context(home: string, extra: Partial<GateContext> = {}): GateContext {
  return { home, env: {}, source: 'cli', tty: false, ...extra };
}

describe('the gate', () => {
  it('allows by the default policy and records the decision with the rule and line', async () => {
    const home = tmp();
    expect(await enforce(send, context(home))).toEqual({ outcome: 'allow' });
    expect(readAudit(home)).toMatchObject([{ seq: 1, source: 'cli', resource: 'message', verb: 'send', kind: 'write', mesh: 'team', mesh_id: team.id, peers: ['bob'], mode: 'write', decision: 'allow', rule: `rule 2 of ${join(home, 'policy.yaml')} (line 32)`, prompt: null }]);
  });

  it('a deny names the rule, its line and reason, and the rule that would allow it', async () => {
    const home = tmp();
    writeFileSync(join(home, 'policy.yaml'), 'rules:\n  - { kind: read, decision: allow }\n  - { verb: send, peers: [bob], decision: deny, reason: "bob is on leave" }\n');
    const v = await enforce(send, context(home));
    expect(v).toEqual({
      outcome: 'deny',
      exitCode: EXIT.denied,
      message: `policy: message send bob in mesh "team" is denied by rule 2 of ${join(home, 'policy.yaml')} (line 3): "bob is on leave"\n  next: to allow it, change that rule or put one above it in ${join(home, 'policy.yaml')}: - { resource: message, verb: send, mesh: team, decision: allow }`,
    });
    expect(readAudit(home)[0]).toMatchObject({ decision: 'deny', rule: expect.stringContaining('rule 2 of') });
  });

  it('asks on a terminal: y runs it, anything else refuses; the answer is recorded', async () => {
    const home = tmp();
    const questions: string[] = [];
    const ask = (answer: boolean) => async (q: string) => (questions.push(q), answer);
    expect(await enforce(leave, context(home, { tty: true, ask: ask(true) }))).toEqual({ outcome: 'allow' });
    expect(await enforce(leave, context(home, { tty: true, ask: ask(false) }))).toEqual({ outcome: 'deny', exitCode: EXIT.denied, message: 'not confirmed: mesh leave in mesh "team" was not run' });
    expect(questions[0]).toMatch(/^claudemesh: mesh leave in mesh "team" is destructive and rule 3 of .*policy\.yaml \(line 33\) asks first\. Run it\?$/);
    expect(readAudit(home).map((e) => [e.decision, e.prompt])).toEqual([
      ['allow', 'yes'],
      ['deny', 'no'],
    ]);
  });

  it('without a terminal a prompt refuses, saying how to allow it; a verb with its own -y keeps exit 2 and -y answers', async () => {
    const home = tmp();
    const plain = await enforce(leave, context(home));
    expect(plain).toMatchObject({ outcome: 'deny', exitCode: EXIT.denied });
    expect(plain.outcome === 'deny' && plain.message).toMatch(/asks for confirmation \(rule 3 of .*\) and there is no terminal to ask on\n {2}next: run it with --approval-mode yolo, or allow it in .*policy\.yaml \(above rule 3\): - \{ resource: mesh, verb: leave, mesh: team, decision: allow \}$/);
    const withFlag = await enforce(leave, context(home, { confirmFlag: '-y' }));
    expect(withFlag).toMatchObject({ outcome: 'deny', exitCode: EXIT.usage, message: expect.stringContaining('next: re-run with -y to confirm, or run it with --approval-mode yolo') });
    expect(await enforce(leave, context(home, { confirmFlag: '-y', yes: true }))).toEqual({ outcome: 'allow' });
    expect(readAudit(home).map((e) => e.prompt)).toEqual(['no-tty', 'no-tty', '-y']);
  });

  it('an admin prompt needs a terminal: neither -y nor yolo answers it', async () => {
    const home = tmp();
    const admin = join(tmp(), 'admin.yaml');
    writeFileSync(admin, 'rules:\n  - { resource: mesh, verb: leave, decision: prompt }\n');
    const env = { CLAUDEMESH_ADMIN_POLICY: admin };
    const v = await enforce(leave, context(home, { env, confirmFlag: '-y', yes: true, approvalMode: 'yolo' }));
    expect(v).toMatchObject({ outcome: 'deny', exitCode: EXIT.denied, message: expect.stringContaining("the admin policy's prompts are not lifted by --yes or --approval-mode yolo") });
    expect(await enforce(leave, context(home, { env, tty: true, ask: async () => true }))).toEqual({ outcome: 'allow' });
  });

  it('plan prints what would run (text or JSON) and exits 7; read-only says which mode refused and how to change it', async () => {
    const home = tmp();
    const plan = await enforce(send, context(home, { approvalMode: 'plan' }));
    expect(plan).toMatchObject({ outcome: 'plan', exitCode: EXIT.planned, stdout: expect.stringMatching(/^plan: message send bob in mesh "team" would run \(a write; rule 2 of .*\)\n$/), message: expect.stringContaining('approval mode plan (from --approval-mode): nothing was run') });
    const json = await enforce(leave, context(home, { approvalMode: 'plan', json: true }));
    expect(JSON.parse((json as { stdout: string }).stdout)).toMatchObject({ plan: true, resource: 'mesh', verb: 'leave', kind: 'destructive', mesh: 'team', would: 'prompt' });
    const ro = await enforce(send, context(home, { env: { CLAUDEMESH_APPROVAL_MODE: 'read-only' } }));
    expect(ro).toMatchObject({ outcome: 'deny', exitCode: EXIT.denied, message: 'policy: message send bob in mesh "team" is a write, and approval mode read-only (from CLAUDEMESH_APPROVAL_MODE) runs reads only\n  next: unset CLAUDEMESH_APPROVAL_MODE (or run it with --approval-mode write)' });
    expect(readAudit(home).map((e) => [e.decision, e.mode])).toEqual([
      ['plan', 'plan'],
      ['plan', 'plan'],
      ['deny', 'read-only'],
    ]);
  });

  it('fails closed on a broken policy file or mode, and still records it', async () => {
    const home = tmp();
    writeFileSync(join(home, 'policy.yaml'), 'rules:\n  - { verb: send, decision: perhaps }\n');
    expect(await enforce(send, context(home))).toMatchObject({ outcome: 'deny', exitCode: EXIT.usage, message: expect.stringMatching(/^policy: .*policy\.yaml line 2: rule 1 needs decision: allow \| prompt \| deny \(got "perhaps"\); nothing was run\n {2}next: fix the file/) });
    const admin = join(tmp(), 'admin.yaml');
    writeFileSync(admin, 'nonsense: true\n');
    expect(await enforce(send, context(tmp(), { env: { CLAUDEMESH_ADMIN_POLICY: admin } }))).toMatchObject({ outcome: 'deny', exitCode: EXIT.denied, message: expect.stringMatching(/^policy: the admin policy is unusable, so every gated verb is refused/) });
    expect(readAudit(home)).toMatchObject([{ decision: 'deny', rule: expect.stringMatching(/^unusable policy: /) }]);
    expect(verifyAudit(home).ok).toBe(true);
  });
});
