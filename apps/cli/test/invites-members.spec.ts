import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestBroker, type TestBroker } from '../../../test/helpers/broker.js';
import { cli as runCli, json, type CliResult } from './helpers/cli.js';

/** `mesh invite list|revoke` and `member revoke|remove`, driven through the real CLI against a real broker. */

const OFF = { CLAUDEMESH_DAEMON: 'off' };
const cli = (home: string, args: string[], env: Record<string, string> = {}): Promise<CliResult> => runCli(home, args, { ...OFF, ...env });

interface Listed {
  invite_id: string;
  kind: 'short' | 'v1' | 'email';
  role: string;
  uses: number;
  max_uses: number;
  revoked: boolean;
  state: string;
}

/** Each test runs a dozen CLI processes on a shared 2-core machine: a hang detector, not a speed limit. */
const SLOW = 240_000;

describe('invites and members from the CLI (owner and admin verbs)', () => {
  let tb: TestBroker;
  const homes: string[] = [];
  const home = (): string => {
    const h = mkdtempSync(join(tmpdir(), 'cmh-im-'));
    homes.push(h);
    return h;
  };
  let olive: string;
  const issue = async (args: string[] = []): Promise<{ invite_id: string; link: string }> => {
    const r = await cli(olive, ['mesh', 'invite', ...args, '--json']);
    expect(r.code, r.stderr).toBe(0);
    return json(r);
  };
  const join_ = async (link: string, name: string): Promise<string> => {
    const h = home();
    const r = await cli(h, ['join', link, '--name', name]);
    expect(r.code, r.stderr).toBe(0);
    return h;
  };

  beforeAll(async () => {
    tb = await startTestBroker('embedded', { CLAUDEMESH_MAIL: 'log' });
    olive = home();
    const created = await cli(olive, ['mesh', 'create', 'team', '--broker', tb.url, '--name', 'olive'], { CLAUDEMESH_ADMIN_TOKEN: ADMIN_TOKEN });
    expect(created.code, created.stderr).toBe(0);
  });
  afterAll(async () => {
    await tb?.close();
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  }, SLOW);

  it('mesh invite list shows the open invites as a table with a header, and --json the broker’s records with kind and state', async () => {
    const short = await issue(['--uses', '2']);
    const v1 = await issue(['--v1']);
    await join_(short.link, 'bob');
    const table = await cli(olive, ['mesh', 'invite', 'list']);
    expect(table.code, table.stderr).toBe(0);
    const lines = table.stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^ID +KIND +ROLE +USES +EXPIRES +STATE +FOR$/);
    expect(lines.find((l) => l.startsWith(short.invite_id))).toMatch(/ short +member +1\/2 +\d{4}-\d\d-\d\d \d\d:\d\dZ +open +-$/);
    expect(lines.find((l) => l.startsWith(v1.invite_id))).toMatch(/ v1 +member +0\/1 +.* open +-$/);
    expect(table.stdout).toContain('close one: claudemesh mesh invite revoke <id>');
    const listed = json<Listed[]>(await cli(olive, ['mesh', 'invite', 'list', '--json']));
    expect(listed).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ invite_id: short.invite_id, kind: 'short', uses: 1, max_uses: 2, revoked: false, state: 'open' }),
        expect.objectContaining({ invite_id: v1.invite_id, kind: 'v1', uses: 0, max_uses: 1, revoked: false, state: 'open' }),
      ]),
    );
    // The flags go to the subcommand whichever side of it they are on; issuing flags are refused there.
    expect(json<Listed[]>(await cli(olive, ['mesh', 'invite', '--json', 'list']))).toEqual(listed);
    const misplaced = await cli(olive, ['mesh', 'invite', 'list', '--uses', '3']);
    expect(misplaced.code).toBe(2);
    expect(misplaced.stderr).toMatch(/mesh invite list takes no --uses/);
  }, SLOW);

  it('mesh invite revoke closes a short invite (joins then fail) and a v1 link (with the mesh-key warning); --all shows them', async () => {
    const short = await issue(['--uses', '5']);
    const v1 = await issue(['--v1']);
    const unconfirmed = await cli(olive, ['mesh', 'invite', 'revoke', short.invite_id]);
    expect(unconfirmed.code).toBe(2);
    expect(unconfirmed.stderr).toMatch(/re-run with -y to confirm/);
    expect(json<Listed[]>(await cli(olive, ['mesh', 'invite', 'list', '--json'])).map((i) => i.invite_id)).toContain(short.invite_id);

    const revoked = await cli(olive, ['mesh', 'invite', 'revoke', short.invite_id, '-y']);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(revoked.stdout).toMatch(new RegExp(`^revoked invite ${short.invite_id} \\(short, member, 0/5 used\\) in "team": it admits no one from now on\\n`));
    expect(revoked.stderr).toBe('');
    const refused = await cli(home(), ['join', short.link, '--name', 'late']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/the invite has been revoked \[E_INVITE_REVOKED\]/);

    const v1Revoked = await cli(olive, ['mesh', 'invite', 'revoke', v1.invite_id, '-y', '--json']);
    expect(v1Revoked.code, v1Revoked.stderr).toBe(0);
    expect(json(v1Revoked)).toEqual({ invite_id: v1.invite_id, kind: 'v1', revoked: true, role: 'member', uses: 0, max_uses: 1 });
    expect(v1Revoked.stderr).toMatch(/warning: a v1 link carries the mesh key itself: revoking it stops new joins, but whoever has seen the link can open @group and \* messages/);

    const open = json<Listed[]>(await cli(olive, ['mesh', 'invite', 'list', '--json'])).map((i) => i.invite_id);
    expect(open).not.toContain(short.invite_id);
    expect(open).not.toContain(v1.invite_id);
    const all = json<Listed[]>(await cli(olive, ['mesh', 'invite', 'list', '--all', '--json']));
    expect(all.find((i) => i.invite_id === short.invite_id)).toMatchObject({ revoked: true, state: 'revoked' });
    const text = await cli(olive, ['mesh', 'invite', 'list']);
    expect(text.stdout).toMatch(/\(\d+ revoked, expired or used-up invites? hidden: --all shows them\)/);

    const unknown = await cli(olive, ['mesh', 'invite', 'revoke', 'NoSuchInvite123', '-y']);
    expect(unknown.code).toBe(4);
    expect(unknown.stderr).toMatch(/no invite NoSuchInvite123 in "team" \[E_NOT_FOUND\]\n {2}next: see the invites: claudemesh mesh invite list --all/);
    expect((await cli(olive, ['mesh', 'invite', 'revoke', 'bad id!', '-y'])).code).toBe(2);
  }, SLOW);

  it('lists email invites with the address they went to, and revokes one by the id mesh invite --email printed', async () => {
    const sent = await cli(olive, ['mesh', 'invite', '--email', 'dave@example.test']);
    expect(sent.code, sent.stderr).toBe(0);
    const id = /close it before it is used: claudemesh mesh invite revoke (\S+)$/m.exec(sent.stdout)![1]!;
    const table = await cli(olive, ['mesh', 'invite', 'list']);
    expect(table.stdout.split('\n').find((l) => l.startsWith(id))).toMatch(/ email +member +0\/1 +.* open +dave@example\.test$/);
    expect(json<Listed[]>(await cli(olive, ['mesh', 'invite', 'list', '--json'])).find((i) => i.invite_id === id)).toMatchObject({ kind: 'email', email: 'dave@example.test', sent: true, member_pubkey: null, uses: 0, max_uses: 1, state: 'open' });
    const revoked = await cli(olive, ['mesh', 'invite', 'revoke', id, '-y', '--json']);
    expect(revoked.code, revoked.stderr).toBe(0);
    expect(json(revoked)).toEqual({ invite_id: id, kind: 'email', revoked: true, role: 'member', uses: 0, max_uses: 1 });
    expect(json<Listed[]>(await cli(olive, ['mesh', 'invite', 'list', '--all', '--json'])).find((i) => i.invite_id === id)).toMatchObject({ revoked: true, state: 'revoked' });
  }, SLOW);

  it('member remove takes a member out: its sessions end, its key is refused, and the mesh-key warning is printed', async () => {
    const carolHome = await join_((await issue()).link, 'carol');
    expect((await cli(carolHome, ['peers'])).code).toBe(0);
    const unconfirmed = await cli(olive, ['member', 'remove', 'carol']);
    expect(unconfirmed.code).toBe(2);
    expect((await cli(carolHome, ['peers'])).code).toBe(0);

    const removed = await cli(olive, ['member', 'remove', 'carol', '-y']);
    expect(removed.code, removed.stderr).toBe(0);
    expect(removed.stdout).toMatch(/^removed carol \(member, [0-9a-f]{16}…\) from "team": its sessions were closed and the broker refuses its key from now on\n$/);
    expect(removed.stderr).toMatch(/^claudemesh: warning: carol still holds the mesh key\. .*the first @group or \* message after this removal rotates it and carol cannot open what follows; until then .*carol can open any later @group or \* message/);
    const after = await cli(carolHome, ['peers']);
    expect(after.code).toBe(1);
    expect(after.stderr).toMatch(/E_REVOKED|E_NOT_MEMBER/);
    const again = await cli(olive, ['member', 'revoke', 'carol', '-y', '--json']);
    expect(json(again)).toMatchObject({ display_name: 'carol', revoked: true, already_revoked: true });
    expect(again.stderr).toMatch(/carol still holds the mesh key/);

    const nobody = await cli(olive, ['member', 'revoke', 'nobody', '-y']);
    expect(nobody.code).toBe(4);
    expect(nobody.stderr).toMatch(/no member nobody in "team" \[E_NOT_FOUND\]\n {2}next: see who is there: claudemesh member list/);
    expect((await cli(olive, ['member', 'revoke', 'olive', '-y'])).stderr).toMatch(/that is you/);
  }, SLOW);

  it('an admin removes members by key but not the owner; a member may neither list invites nor remove anyone', async () => {
    const adminHome = await join_((await issue(['--role', 'admin'])).link, 'ada');
    const erinHome = await join_((await issue()).link, 'erin');
    const erinKey = json<{ member_pubkey: string }>(await cli(erinHome, ['whoami', '--json'])).member_pubkey;

    const owner = await cli(adminHome, ['member', 'revoke', 'olive', '-y']);
    expect(owner.code).toBe(1);
    expect(owner.stderr).toMatch(/\[E_FORBIDDEN\]\n {2}next: the owner cannot be removed, and only the owner removes an admin/);
    const byKey = await cli(adminHome, ['member', 'remove', erinKey, '-y', '--json']);
    expect(byKey.code, byKey.stderr).toBe(0);
    expect(json(byKey)).toMatchObject({ member_pubkey: erinKey, display_name: 'erin', role: 'member', revoked: true, already_revoked: false });

    const bobHome = await join_((await issue()).link, 'frank');
    for (const args of [['mesh', 'invite', 'list'], ['member', 'revoke', 'ada', '-y']]) {
      const r = await cli(bobHome, args);
      expect(r.code, args.join(' ')).toBe(1);
      expect(r.stderr).toMatch(/you are a member of "team"; only its owner or an admin/);
    }
  }, SLOW);

  it('the policy sees invite list as a read, invite revoke and member revoke as destructive', async () => {
    const readOnly = { CLAUDEMESH_APPROVAL_MODE: 'read-only' };
    expect((await cli(olive, ['mesh', 'invite', 'list'], readOnly)).code).toBe(0);
    const { invite_id: id } = await issue();
    for (const args of [['mesh', 'invite', 'revoke', id, '-y'], ['member', 'remove', 'bob', '-y']]) {
      const r = await cli(olive, args, readOnly);
      expect(r.code, args.join(' ')).toBe(6);
      expect(r.stderr).toMatch(/read-only/);
    }
    expect(json<Listed[]>(await cli(olive, ['mesh', 'invite', 'list', '--json'])).map((i) => i.invite_id)).toContain(id);
  }, SLOW);
});
