import { issueInvite, revokeMember } from '@claudemesh/core';
import { cryptoReady, encodeInviteLink, safetyNumber } from '@claudemesh/crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import QRCode from 'qrcode';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LocalStore } from '../src/store/local-store.js';
import { createTestMesh, startTestBroker, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { PLAIN_QR, plainModulesOf } from './helpers/qr.js';
import { cliOnTty } from './helpers/tty.js';
import { cli, json } from './helpers/cli.js';


const slow = { CLAUDEMESH_FAST: 'off' };
/** Fails (exit 99) unless the fast path answers. */
const only = { CLAUDEMESH_FAST: 'only' };
/** Each CLI run is a fresh node process (~0.5-1 s on a loaded machine); these tests run dozens. */
const SLOW = 120_000;

interface Verify {
  peer: string;
  member_pubkey: string;
  safety_number: string;
  verified: boolean;
}

/** Reads the module matrix back out of qrcode's small terminal rendering (two module rows per text line). */
function modulesOf(rendered: string, size: number): boolean[] {
  // eslint-disable-next-line no-control-regex
  const lines = rendered.replace(/\x1b\[[0-9;]*m/g, '').split('\n');
  const out: boolean[] = [];
  for (let y = 0; y < size; y++) {
    const ch = [...(lines[Math.floor((y + 1) / 2)] ?? '')];
    const top = (y + 1) % 2 === 0;
    for (let x = 0; x < size; x++) {
      const c = ch[x + 1];
      out.push(top ? c === '▀' || c === '█' : c === '▄' || c === '█');
    }
  }
  return out;
}

describe('claudemesh peer verify: safety numbers against a live broker', () => {
  let tb: TestBroker;
  let mesh: TestMesh;
  const homes: string[] = [];
  const home = (): string => {
    const h = mkdtempSync(join(tmpdir(), 'cmh-verify-'));
    homes.push(h);
    return h;
  };
  let alice: string;
  let bob: string;
  let aliceKey: string;
  let bobKey: string;

  const link = async (): Promise<string> => {
    const { invite } = await issueInvite(tb.url, { meshId: mesh.meshId, meshName: mesh.name, brokerUrl: tb.url, issuer: mesh.owner });
    return encodeInviteLink(invite, mesh.meshKey);
  };
  const keyOf = async (h: string): Promise<string> => json<{ member_pubkey: string }>(await cli(h, ['whoami', '--json'])).member_pubkey;

  beforeAll(async () => {
    await cryptoReady();
    tb = await startTestBroker('embedded');
    mesh = await createTestMesh(tb, 'verify-mesh');
    alice = home();
    bob = home();
    expect((await cli(alice, ['join', await link(), '--name', 'alice'])).code).toBe(0);
    expect((await cli(bob, ['join', await link(), '--name', 'bob'])).code).toBe(0);
    aliceKey = await keyOf(alice);
    bobKey = await keyOf(bob);
    expect((await cli(alice, ['daemon', 'start'])).code).toBe(0);
  }, SLOW);
  afterAll(async () => {
    for (const h of homes) await cli(h, ['daemon', 'stop']);
    await tb?.close();
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  }, SLOW);

  it('gives both sides the same 30 digits, by name or member key, with both fingerprints', async () => {
    const a = json<Verify>(await cli(alice, ['peer', 'verify', 'bob', '--json']));
    const b = json<Verify>(await cli(bob, ['peer', 'verify', 'alice', '--json']));
    expect(a.safety_number).toMatch(/^[0-9]{5}( [0-9]{5}){5}$/);
    expect(a.safety_number).toBe(b.safety_number);
    expect(a.safety_number).toBe(safetyNumber(aliceKey, bobKey));
    expect(a).toEqual({ peer: 'bob', member_pubkey: bobKey, safety_number: a.safety_number, verified: false });
    expect(b).toEqual({ peer: 'alice', member_pubkey: aliceKey, safety_number: a.safety_number, verified: false });
    // The member key (or the prefix peer list shows) names the same peer.
    expect(json<Verify>(await cli(alice, ['peer', 'verify', bobKey, '--json']))).toEqual(a);
    expect(json<Verify>(await cli(alice, ['peer', 'verify', bobKey.slice(0, 16), '--json']))).toEqual(a);
    // A different pair of keys gives a different number.
    const withOwner = json<Verify>(await cli(alice, ['peer', 'verify', 'owner', '--json']));
    expect(withOwner.safety_number).not.toBe(a.safety_number);

    const text = await cli(alice, ['peer', 'verify', 'bob']);
    expect(text.code).toBe(0);
    expect(text.stdout).toContain(`    ${a.safety_number}\n`);
    expect(text.stdout).toContain(bobKey.match(/.{4}/g)!.join(' '));
    expect(text.stdout).toContain(aliceKey.match(/.{4}/g)!.join(' '));
    expect(text.stdout).toContain('claudemesh peer verify bob --confirm <digits>');
    expect(text.stdout).toMatch(/status: not verified\n$/);

    expect((await cli(alice, ['peer', 'verify', 'nobody'])).code).toBe(4);
    expect((await cli(alice, ['peer', 'verify', 'alice'])).stderr).toMatch(/that is you/);
  }, SLOW);

  it('--qr renders claudemesh-safety:<30 digits> as a QR code: plain block characters when piped, coloured only on a terminal', async () => {
    const number = safetyNumber(aliceKey, bobKey);
    const text = `claudemesh-safety:${number.replace(/ /g, '')}`;
    expect(text).toMatch(/^claudemesh-safety:[0-9]{30}$/);
    const qr = QRCode.create(text);
    const size = qr.modules.size;

    const piped = await cli(alice, ['peer', 'verify', 'bob', '--qr']);
    expect(piped.code).toBe(0);
    expect(piped.stdout).not.toContain('\x1b');
    const plain = await QRCode.toString(text, PLAIN_QR);
    expect(piped.stdout.startsWith(plain)).toBe(true);
    expect(piped.stdout.slice(plain.length)).toContain(number);
    // The blocks carry exactly the modules of a QR code of that text (no scanner here)...
    expect(plainModulesOf(piped.stdout, size)).toEqual([...qr.modules.data].map(Boolean));
    // ...and not those of another number.
    const other = QRCode.create(`claudemesh-safety:${'0'.repeat(30)}`);
    expect(other.modules.size === size && plainModulesOf(piped.stdout, size).every((m, i) => m === Boolean(other.modules.data[i]))).toBe(false);

    const onTty = await cliOnTty(['peer', 'verify', 'bob', '--qr'], { CLAUDEMESH_HOME: alice });
    expect(onTty.code).toBe(0);
    const shown = onTty.out.replace(/\r\n/g, '\n');
    const coloured = await QRCode.toString(text, { type: 'terminal', small: true });
    expect(shown).toContain(coloured);
    expect(modulesOf(shown.slice(shown.indexOf(coloured)), size)).toEqual([...qr.modules.data].map(Boolean));
  }, SLOW);

  it('--confirm records nothing on wrong digits and marks the key verified on the right ones', async () => {
    const number = safetyNumber(aliceKey, bobKey);
    const wrong = number.replace(/^./, (d) => String((Number(d) + 1) % 10));
    const refused = await cli(alice, ['peer', 'verify', 'bob', '--confirm', wrong]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/do not match .* nothing was recorded/);
    expect((await cli(alice, ['peer', 'verify', 'bob', '--confirm', '1234'])).code).toBe(2);
    expect(json<Verify>(await cli(alice, ['peer', 'verify', 'bob', '--json'])).verified).toBe(false);
    const store = LocalStore.open(alice);
    expect(store.verifiedPeers(mesh.meshId)).toEqual([]);
    store.close();
    expect((await cli(alice, ['peers'], slow)).stdout).not.toContain('✓');

    // Unquoted groups (separate arguments) and a quoted string with spaces both work.
    const ok = await cli(alice, ['peer', 'verify', 'bob', '--confirm', ...number.split(' ')]);
    expect(ok.code).toBe(0);
    expect(ok.stdout).toMatch(/^verified: bob's key/);
    expect(json<Verify>(await cli(alice, ['peer', 'verify', 'bob', '--confirm', number, '--json']))).toEqual({ peer: 'bob', member_pubkey: bobKey, safety_number: number, verified: true });
    const s2 = LocalStore.open(alice);
    expect(s2.verifiedPeers(mesh.meshId)).toEqual([expect.objectContaining({ mesh_id: mesh.meshId, member_pubkey: bobKey, display_name: 'bob' })]);
    s2.close();
    expect((await cli(alice, ['peer', 'verify', 'bob'])).stdout).toMatch(/status: verified \d{4}-/);
    // Verification is local: bob has not verified alice.
    expect(json<Verify>(await cli(bob, ['peer', 'verify', 'alice', '--json'])).verified).toBe(false);
  }, SLOW);

  it('peer list marks verified keys with ✓, the same through the fast path and the command tree', async () => {
    const fast = await cli(alice, ['peers'], only);
    const tree = await cli(alice, ['peer', 'list'], slow);
    expect(fast).toEqual(tree);
    const lines = fast.stdout.trimEnd().split('\n');
    // The mark follows the key in the KEY column.
    expect(lines.find((l) => l.startsWith('bob '))).toMatch(new RegExp(`${bobKey.slice(0, 16)}… ✓ `));
    expect(lines.find((l) => l.startsWith('owner '))).toMatch(/[0-9a-f]{16}… {3}/);
    expect(lines.filter((l) => l.includes('… ✓'))).toHaveLength(1);
    expect(await cli(alice, ['peers', '--json'], only)).toEqual(await cli(alice, ['peers', '--json'], slow));
    // A send to a verified, unchanged key says nothing extra.
    for (const env of [only, slow]) {
      const sent = await cli(alice, ['send', 'bob', 'hello'], env);
      expect(sent.code).toBe(0);
      expect(sent.stderr).toBe('');
    }
  }, SLOW);

  it('warns on every send, both paths, once a verified name comes with another key', async () => {
    // bob loses his keys and starts over: leaves, makes a new account, joins again under his name.
    expect((await cli(bob, ['mesh', 'leave', '-y'])).code).toBe(0);
    expect((await cli(bob, ['init', '--force'])).code).toBe(0);
    // The broker keeps a name bound to its first key (members_mesh_name_key covers revoked members too;
    // leave is local only), so neither a plain rejoin nor one after the owner revoked the old key works.
    const taken = await cli(bob, ['join', await link(), '--name', 'bob']);
    expect(taken.code).toBe(1);
    expect(taken.stderr).toContain('E_NAME_TAKEN');
    expect(await revokeMember(tb.url, mesh.owner, mesh.meshId, bobKey)).toEqual({ revoked: true });
    expect((await cli(bob, ['join', await link(), '--name', 'bob'])).stderr).toContain('E_NAME_TAKEN');
    // Only a change in the broker's database gives the name to another key: an operator freeing it,
    // or a broker that lies, which is what safety numbers are for. Simulated here on the revoked row.
    await tb.broker.app.get(DataSource).query(`UPDATE members SET display_name = 'bob-revoked' WHERE mesh_id = $1 AND pubkey = $2`, [mesh.meshId, bobKey]);
    const rejoined = await cli(bob, ['join', await link(), '--name', 'bob']);
    expect(rejoined.code, rejoined.stderr).toBe(0);
    const newKey = await keyOf(bob);
    expect(newKey).not.toBe(bobKey);

    const warning = `claudemesh: WARNING: bob's key changed since you verified it (was ${bobKey.slice(0, 16)}…, now ${newKey.slice(0, 16)}…); run claudemesh peer verify bob\n`;
    const fast = await cli(alice, ['send', 'bob', 'still', 'you?'], only);
    const tree = await cli(alice, ['message', 'send', 'bob', 'still', 'you?'], slow);
    for (const sent of [fast, tree]) {
      expect(sent.code, sent.stderr).toBe(0);
      expect(sent.stderr).toBe(warning);
      expect(sent.stdout).toMatch(/^sent to bob \(message \d+, 1 recipient/);
    }
    // Every send, not only the first.
    expect((await cli(alice, ['send', 'bob', 'again'], only)).stderr).toBe(warning);
    // Other targets are not affected.
    expect((await cli(alice, ['send', 'owner', 'hi'], only)).stderr).toBe('');
    // The new key is not shown as verified, and verify says why.
    expect((await cli(alice, ['peers'], only)).stdout).not.toContain('✓');
    expect((await cli(alice, ['peer', 'verify', 'bob'])).stdout).toContain(`status: NOT verified — bob had the key ${bobKey.slice(0, 16)}… when you verified it`);

    // Verifying the new key (both sides compute it) ends the warnings.
    const fresh = json<Verify>(await cli(bob, ['peer', 'verify', 'alice', '--json'])).safety_number;
    expect(fresh).toBe(safetyNumber(aliceKey, newKey));
    expect((await cli(alice, ['peer', 'verify', 'bob', '--confirm', fresh])).code).toBe(0);
    for (const env of [only, slow]) expect((await cli(alice, ['send', 'bob', 'welcome', 'back'], env)).stderr).toBe('');
    expect((await cli(alice, ['peers'], only)).stdout).toMatch(new RegExp(`${newKey.slice(0, 16)}… ✓`));
  }, SLOW);
});
