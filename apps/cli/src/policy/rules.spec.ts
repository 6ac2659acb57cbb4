import { describe, expect, it } from 'vitest';
import { describeBecause, evaluate, globToRegExp, ruleMatches, type GateRequest, type Policy, type Rule } from './rules.js';
import { GATED_VERBS, KINDS, MCP_TOOL_VERBS } from './verbs.js';

const team = { name: 'team', id: '0b6f7c1e-3a9d-4c2b-9e1f-5d8a7b6c4e21' };
const send = (to: string, mesh: GateRequest['mesh'] = team): GateRequest => ({ resource: 'message', verb: 'send', mesh, peers: [to] });
const leave: GateRequest = { resource: 'mesh', verb: 'leave', mesh: team, peers: [] };
const peerList: GateRequest = { resource: 'peer', verb: 'list', mesh: team, peers: [] };

let n = 0;
const rule = (r: Omit<Rule, 'index' | 'line'>): Rule => ({ index: ++n, line: null, ...r });
const user = (...rules: Rule[]): Policy => ({ origin: 'user', file: '/home/u/.claudemesh/policy.yaml', rules });
const admin = (...rules: Rule[]): Policy => ({ origin: 'admin', file: '/etc/claudemesh/admin-policy.yaml', rules });

describe('globs', () => {
  it('* is any text, ? one character, \\* a literal star; everything else is literal and anchored', () => {
    expect(globToRegExp('pro*').test('prod-eu')).toBe(true);
    expect(globToRegExp('pro*').test('xprod')).toBe(false);
    expect(globToRegExp('b?b').test('bob')).toBe(true);
    expect(globToRegExp('b?b').test('bb')).toBe(false);
    expect(globToRegExp('\\*').test('*')).toBe(true);
    expect(globToRegExp('\\*').test('bob')).toBe(false);
    expect(globToRegExp('*').test('*')).toBe(true);
    expect(globToRegExp('a.b').test('axb')).toBe(false);
    expect(globToRegExp('@ops(1)').test('@ops(1)')).toBe(true);
    expect(globToRegExp('Bob').test('bob')).toBe(false);
  });
});

describe('rule matching', () => {
  it('matches on resource, verb, kind, mesh name or id, and any of the peers; a missing key matches anything', () => {
    const r = (x: Omit<Rule, 'index' | 'line' | 'decision'>) => rule({ ...x, decision: 'deny' });
    expect(ruleMatches(r({}), send('bob'), 'write')).toBe(true);
    expect(ruleMatches(r({ resource: ['mess*'], verb: ['send', 'inbox'] }), send('bob'), 'write')).toBe(true);
    expect(ruleMatches(r({ resource: ['peer'] }), send('bob'), 'write')).toBe(false);
    expect(ruleMatches(r({ kind: ['read', 'destructive'] }), send('bob'), 'write')).toBe(false);
    expect(ruleMatches(r({ mesh: ['te?m'] }), send('bob'), 'write')).toBe(true);
    expect(ruleMatches(r({ mesh: ['0b6f7c1e-*'] }), send('bob'), 'write')).toBe(true);
    expect(ruleMatches(r({ mesh: ['prod'] }), send('bob'), 'write')).toBe(false);
    expect(ruleMatches(r({ peers: ['alice', 'b*'] }), send('bob'), 'write')).toBe(true);
    expect(ruleMatches(r({ peers: ['\\*'] }), send('bob'), 'write')).toBe(false);
    expect(ruleMatches(r({ peers: ['\\*'] }), send('*'), 'write')).toBe(true);
  });

  it('a rule about a mesh or peers never matches a verb that names none', () => {
    expect(ruleMatches(rule({ mesh: ['*'], decision: 'deny' }), { ...peerList, mesh: null }, 'read')).toBe(false);
    expect(ruleMatches(rule({ peers: ['*'], decision: 'deny' }), peerList, 'read')).toBe(false);
  });
});

describe('evaluate', () => {
  it('the first matching rule decides', () => {
    const p = user(rule({ resource: ['message'], verb: ['send'], peers: ['alice'], decision: 'allow' }), rule({ resource: ['message'], decision: 'deny' }), rule({ decision: 'allow' }));
    expect(evaluate(send('alice'), [p], 'write')).toMatchObject({ decision: 'allow', because: { by: 'rule', rule: { decision: 'allow', peers: ['alice'] } } });
    expect(evaluate(send('bob'), [p], 'write')).toMatchObject({ decision: 'deny', because: { by: 'rule', rule: { resource: ['message'], decision: 'deny' } } });
    expect(evaluate(peerList, [p], 'write').decision).toBe('allow');
  });

  it('with no rule matching: reads and writes run, destructive verbs ask', () => {
    expect(evaluate(peerList, [user()], 'write')).toMatchObject({ kind: 'read', decision: 'allow', because: { by: 'default', kind: 'read' } });
    expect(evaluate(send('bob'), [user()], 'write')).toMatchObject({ kind: 'write', decision: 'allow' });
    expect(evaluate(leave, [user()], 'write')).toMatchObject({ kind: 'destructive', decision: 'prompt', adminPrompt: false });
  });

  it('admin rules come first: an admin deny beats a user allow, an admin allow skips the user rules', () => {
    expect(evaluate(send('bob'), [admin(rule({ verb: ['send'], decision: 'deny' })), user(rule({ decision: 'allow' }))], 'write')).toMatchObject({ decision: 'deny', because: { by: 'rule', origin: 'admin' } });
    expect(evaluate(send('bob'), [user(rule({ decision: 'deny' })), admin(rule({ verb: ['send'], decision: 'allow' }))], 'write')).toMatchObject({ decision: 'allow', because: { origin: 'admin' } });
  });

  it('plan runs nothing but reports what would happen; a deny is still a deny', () => {
    expect(evaluate(send('bob'), [user()], 'plan')).toMatchObject({ decision: 'plan', would: 'allow' });
    expect(evaluate(leave, [user()], 'plan')).toMatchObject({ decision: 'plan', would: 'prompt' });
    expect(evaluate(send('bob'), [user(rule({ decision: 'deny' }))], 'plan').decision).toBe('deny');
  });

  it('read-only lets reads through and refuses writes and destructive verbs, whatever the rules allow', () => {
    const allowAll = user(rule({ decision: 'allow' }));
    expect(evaluate(peerList, [allowAll], 'read-only').decision).toBe('allow');
    expect(evaluate(send('bob'), [allowAll], 'read-only')).toMatchObject({ decision: 'deny', because: { by: 'mode', mode: 'read-only' } });
    expect(evaluate(leave, [allowAll], 'read-only').decision).toBe('deny');
  });

  it('yolo lifts prompts but not denies, and not an admin rule’s prompt', () => {
    expect(evaluate(leave, [user()], 'yolo')).toMatchObject({ decision: 'allow', would: 'prompt', because: { by: 'mode', mode: 'yolo' } });
    expect(evaluate(send('bob'), [user(rule({ decision: 'deny' }))], 'yolo').decision).toBe('deny');
    expect(evaluate(send('bob'), [admin(rule({ decision: 'deny' }))], 'yolo').decision).toBe('deny');
    expect(evaluate(leave, [admin(rule({ verb: ['leave'], decision: 'prompt' }))], 'yolo')).toMatchObject({ decision: 'prompt', adminPrompt: true });
  });

  it('names the rule, its file and line, and its reason', () => {
    const r: Rule = { index: 2, line: 14, mesh: ['prod'], decision: 'deny', reason: 'prod is read-only' };
    expect(describeBecause({ by: 'rule', origin: 'user', file: '/h/policy.yaml', rule: r })).toBe('rule 2 of /h/policy.yaml (line 14): "prod is read-only"');
    expect(describeBecause({ by: 'rule', origin: 'admin', file: '/etc/a.yaml', rule: { ...r, reason: undefined } as Rule })).toBe('rule 2 of the admin policy /etc/a.yaml (line 14)');
    expect(describeBecause({ by: 'default', kind: 'destructive' })).toBe('the built-in default for destructive verbs (no rule matched)');
  });
});

describe('the verb table', () => {
  it('gives every verb a kind, and maps every MCP tool onto one of its verbs', () => {
    for (const [name, v] of Object.entries(GATED_VERBS)) {
      expect(name).toMatch(/^[a-z]+ [a-z]+$/);
      expect(KINDS).toContain(v.kind);
    }
    expect(GATED_VERBS['mesh leave']!.kind).toBe('destructive');
    expect(GATED_VERBS['message send']!.kind).toBe('write');
    expect(GATED_VERBS['peer list']!.kind).toBe('read');
    for (const t of Object.values(MCP_TOOL_VERBS)) expect(GATED_VERBS[`${t.resource} ${t.verb}`], `${t.resource} ${t.verb}`).toBeDefined();
    expect(MCP_TOOL_VERBS['send_message']!.peers!({ to: '@ops', text: 'x' })).toEqual(['@ops']);
    expect(() => evaluate({ resource: 'mesh', verb: 'explode', mesh: null, peers: [] }, [], 'write')).toThrow(/not in the policy's verb table/);
  });
});
