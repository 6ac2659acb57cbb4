import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createKeyHandoff, generateIdentity, parseEmailInviteLink } from '@claudemesh/crypto';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestBroker, waitFor, type TestBroker } from '../../../test/helpers/broker.js';
import { inviteOf, startSmtpSink, type SmtpSink } from '../../../test/helpers/mail-sinks.js';
import { cli, json, type CliResult } from './helpers/cli.js';

const OFF = { CLAUDEMESH_DAEMON: 'off' };
const EXIT_PENDING = 8;

interface JoinJson {
  mesh_id: string;
  pending: boolean;
  has_mesh_key: boolean;
  member: { display_name: string; member_pubkey: string };
  file?: string;
}
interface Outcome {
  status: string;
  email: string;
  display_name: string;
  member_pubkey: string;
}

/** The real CLI on both sides of an email invite, against a broker that mails through a real SMTP sink. */
describe('claudemesh mesh invite --email, join, mesh handoff', () => {
  let tb: TestBroker;
  let sink: SmtpSink;
  let adminHome: string;
  let meshId: string;
  const homes: string[] = [];
  const home = () => {
    const h = mkdtempSync(join(tmpdir(), 'cmh-email-'));
    homes.push(h);
    return h;
  };
  const meshFile = (h: string) => join(h, 'meshes', `${meshId}.json`);
  const stored = (h: string) => JSON.parse(readFileSync(meshFile(h), 'utf8')) as { mesh_key?: string };

  /** `mesh invite --email` as the admin, and the link out of the mail that arrived. */
  async function emailInvite(address: string, extra: string[] = []): Promise<{ r: CliResult; link: string; code: string }> {
    const before = sink.mails.length;
    const r = await cli(adminHome, ['mesh', 'invite', '--email', address, ...extra], OFF);
    expect(r.code, r.stderr).toBe(0);
    await waitFor(() => sink.mails.length > before, 'the invite mail');
    return { r, ...inviteOf(sink.mails.at(-1)!.text) };
  }

  beforeAll(async () => {
    sink = await startSmtpSink();
    tb = await startTestBroker('embedded', { CLAUDEMESH_MAIL: 'smtp', CLAUDEMESH_SMTP_URL: sink.url, CLAUDEMESH_MAIL_FROM: 'mesh@example.test' });
    adminHome = home();
    const created = await cli(adminHome, ['mesh', 'create', 'mailed', '--broker', tb.url, '--admin-token', ADMIN_TOKEN, '--name', 'alice', '--json'], OFF);
    expect(created.code, created.stderr).toBe(0);
    meshId = json<{ mesh_id: string }>(created).mesh_id;
  });
  afterAll(async () => {
    await cli(adminHome, ['daemon', 'stop']);
    await tb?.close();
    await sink?.close();
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  });

  it('emails the invite, the joiner waits, `mesh handoff` hands the key over, and the admin’s messages arrive decrypted', async () => {
    const { r, link, code } = await emailInvite('dave@example.com', ['--invitee-name', 'dave']);
    expect(r.stdout).toMatch(/emailed an invite for "mailed" to dave@example\.com \(member, single use, expires .*\)/);
    expect(r.stdout).toMatch(/handed over,\n.*running daemon.*claudemesh mesh handoff/s);
    expect(r.stdout).not.toContain(code.slice(2));
    expect(sink.mails.at(-1)!.text).toContain(`claudemesh join '${link}' --name dave`);

    // The joiner claims; no key has come yet: it says so, exits 8, and writes no mesh file.
    const dave = home();
    const first = await cli(dave, ['join', link, '--name', 'dave', '--wait', '0', '--json'], OFF);
    expect(first.code, first.stderr).toBe(EXIT_PENDING);
    expect(json<JoinJson>(first)).toMatchObject({ mesh_id: meshId, pending: true, has_mesh_key: false, member: { display_name: 'dave' } });
    expect(existsSync(meshFile(dave))).toBe(false);
    expect(statSync(join(dave, 'pending-joins', `${meshId}.json`)).mode & 0o777).toBe(0o600);
    const text = await cli(dave, ['join', '--resume', '--wait', '0'], OFF);
    expect([text.code, text.stdout]).toEqual([EXIT_PENDING, expect.stringMatching(/mesh key has not arrived from alice yet[\s\S]*next: claudemesh join --resume/)]);

    // Sent while dave has no key: it waits at the broker.
    expect((await cli(adminHome, ['send', '*', 'sent before the key'], OFF)).code).toBe(0);

    const handoff = await cli(adminHome, ['mesh', 'handoff', '--json'], OFF);
    expect(handoff.code, handoff.stderr).toBe(0);
    expect(json<Outcome[]>(handoff)).toEqual([expect.objectContaining({ status: 'handed-over', email: 'dave@example.com', display_name: 'dave', member_pubkey: json<JoinJson>(first).member.member_pubkey })]);
    expect((await cli(adminHome, ['mesh', 'handoff'], OFF)).stdout).toMatch(/no member is waiting for a mesh key/);

    const resumed = await cli(dave, ['join', '--resume', '--json'], OFF);
    expect(resumed.code, resumed.stderr).toBe(0);
    expect(json<JoinJson>(resumed)).toMatchObject({ pending: false, has_mesh_key: true });
    expect(stored(dave).mesh_key).toBe(stored(adminHome).mesh_key);
    expect(statSync(meshFile(dave)).mode & 0o777).toBe(0o600);
    expect(existsSync(join(dave, 'pending-joins', `${meshId}.json`))).toBe(false);

    expect((await cli(adminHome, ['send', '*', 'sent after the key'], OFF)).code).toBe(0);
    const inbox = await cli(dave, ['inbox'], OFF);
    expect(inbox.stdout).toContain('alice → *: sent before the key');
    expect(inbox.stdout).toContain('alice → *: sent after the key');
  });

  it('waits in `join` itself until the admin hands over, and the same link again is refused to another joiner', async () => {
    const { link } = await emailInvite('erin@example.com');
    const erin = home();
    const waiting = cli(erin, ['join', link, '--name', 'erin', '--wait', '30', '--json'], OFF);
    let outcomes: Outcome[] = [];
    for (let i = 0; i < 40 && !outcomes.some((o) => o.email === 'erin@example.com'); i++) {
      outcomes = json<Outcome[]>(await cli(adminHome, ['mesh', 'handoff', '--json'], OFF));
      await new Promise((r) => setTimeout(r, 250));
    }
    const done = await waiting;
    expect(done.code, done.stderr).toBe(0);
    expect(json<JoinJson>(done)).toMatchObject({ has_mesh_key: true });
    expect(stored(erin).mesh_key).toBe(stored(adminHome).mesh_key);

    const mallory = await cli(home(), ['join', link, '--name', 'mallory', '--wait', '0'], OFF);
    expect([mallory.code, mallory.stderr]).toEqual([1, expect.stringMatching(/no uses left \[E_INVITE_EXHAUSTED\]\n {2}next: /)]);
  });

  it('hands over from a running daemon by itself', async () => {
    const started = await cli(adminHome, ['daemon', 'start'], { CLAUDEMESH_HANDOFF_INTERVAL_MS: '300' });
    expect(started.code, started.stderr).toBe(0);
    const { link } = await emailInvite('fay@example.com');
    const fay = home();
    const joined = await cli(fay, ['join', link, '--name', 'fay', '--wait', '20', '--json'], OFF);
    expect(joined.code, joined.stderr).toBe(0);
    expect(stored(fay).mesh_key).toBe(stored(adminHome).mesh_key);
    expect((await cli(adminHome, ['daemon', 'stop'])).code).toBe(0);
    expect(readFileSync(join(adminHome, 'daemon.log'), 'utf8')).toMatch(/key handoff to fay <fay@example\.com>: handed-over/);
  });

  it('refuses a key handoff that is not signed by the inviting admin, and keeps the join pending', async () => {
    const { link } = await emailInvite('gus@example.com');
    const gus = home();
    const claimed = await cli(gus, ['join', link, '--name', 'gus', '--wait', '0', '--json'], OFF);
    expect(claimed.code).toBe(EXIT_PENDING);
    // What a dishonest broker (or its database) could plant: a key of its own, signed by a key of its own.
    const p = parseEmailInviteLink(link);
    const db = tb.broker.app.get(DataSource);
    const [row] = (await db.query('SELECT id FROM email_invites WHERE member_pubkey = $1', [json<JoinJson>(claimed).member.member_pubkey])) as { id: string }[];
    const planted = createKeyHandoff({ meshId, inviteId: row!.id, memberPubkey: json<JoinJson>(claimed).member.member_pubkey }, new Uint8Array(32).fill(0xee), generateIdentity());
    await db.query('UPDATE email_invites SET handoff_sealed = $2, handoff_sig = $3, handed_over_at = now() WHERE id = $1', [row!.id, planted.sealed, planted.sig]);
    expect(p.issuer).toBeDefined();
    const refused = await cli(gus, ['join', '--resume', '--wait', '0'], OFF);
    expect([refused.code, refused.stderr]).toEqual([1, expect.stringMatching(/does not verify as coming from alice.*\[E_INVITE_INVALID\]\n {2}next: tell alice/s)]);
    expect(existsSync(meshFile(gus))).toBe(false);
  });

  it('explains wrong codes, expired invites, a refused address and bad usage, with what to do next', async () => {
    const { link } = await emailInvite('hal@example.com', ['--ttl', '0.0004']);
    const wrong = link.replace(/\/e\/[A-Z0-9-]+/, '/e/0000-0000-0000-0000');
    const notFound = await cli(home(), ['join', wrong, '--name', 'hal'], OFF);
    expect([notFound.code, notFound.stderr]).toEqual([1, expect.stringMatching(/no invite matches this code .*\[E_INVITE_NOT_FOUND\]\n {2}next: /)]);
    await new Promise((r) => setTimeout(r, 1_600));
    const expired = await cli(home(), ['join', link, '--name', 'hal'], OFF);
    expect([expired.code, expired.stderr]).toEqual([1, expect.stringMatching(/expired \[E_INVITE_EXPIRED\]\n {2}next: /)]);

    const refused = await cli(adminHome, ['mesh', 'invite', '--email', 'reject-me@example.com'], OFF);
    expect([refused.code, refused.stderr]).toEqual([1, expect.stringMatching(/550.*\[E_MAIL_FAILED\]\n {2}next: /s)]);
    for (const args of [['--email', 'not-an-address'], ['--email', 'a@example.com', '--uses', '3'], ['--email', 'a@example.com', '--invitee-name', 'bad name']]) {
      const r = await cli(adminHome, ['mesh', 'invite', ...args], OFF);
      expect(r.code, args.join(' ')).toBe(2);
    }
    expect((await cli(home(), ['join'], OFF)).code).toBe(2);
    expect((await cli(home(), ['join', '--resume'], OFF)).code).toBe(3);
  });

  it('lets a plain member neither invite by email nor hand over keys', async () => {
    const dave = homes.find((h) => existsSync(meshFile(h)) && h !== adminHome)!;
    const invite = await cli(dave, ['mesh', 'invite', '--email', 'x@example.com'], OFF);
    expect([invite.code, invite.stderr]).toEqual([1, expect.stringMatching(/only its owner or an admin invites by email/)]);
    const handoff = await cli(dave, ['mesh', 'handoff', '--mesh', meshId], OFF);
    expect([handoff.code, handoff.stderr]).toEqual([1, expect.stringMatching(/needs the owner or an admin/)]);
  });
});
