import { CAPABILITIES, DEFAULT_CAPABILITIES, MeshApi, ProtocolError, createApiKey, type Capability, type InboundMessage, type MeshClient, type Receipt } from '@claudemesh/core';
import { firstEpoch, sealEpochKey, topicScope, type Identity } from '@claudemesh/crypto';
import { DataSource } from 'typeorm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addMember, connectClient, createTestMesh, startTestBroker, waitFor, type TestBroker, type TestMesh } from '../../../test/helpers/broker.js';
import { dbKinds } from '../../../test/helpers/db.js';
import { MeshDirectory } from '../src/meshes/mesh-directory.js';
import { TopicsService } from '../src/topics/topics.service.js';

/**
 * Capability grants × every frame type (docs/protocol.md §5.5). `olive` sets a grant for `pete`;
 * `xena`, who keeps the defaults, is the control that proves each channel works. Each grant-guarded
 * frame is allowed exactly when the grant holds its capability; every other frame is unaffected.
 */
type Config = { name: string; capabilities: Capability[]; blocked: boolean };
const without = (c: Capability): Config => ({ name: `defaults without ${c}`, capabilities: DEFAULT_CAPABILITIES.filter((x) => x !== c), blocked: false });
const CONFIGS: Config[] = [
  { name: 'defaults', capabilities: [...DEFAULT_CAPABILITIES], blocked: false },
  { name: 'every capability', capabilities: [...CAPABILITIES], blocked: false },
  without('dm'),
  without('broadcast'),
  without('read'),
  without('state-read'),
  { name: 'defaults plus state-write', capabilities: [...DEFAULT_CAPABILITIES, 'state-write'], blocked: false },
  { name: 'no capability', capabilities: [], blocked: false },
  { name: 'blocked', capabilities: [...CAPABILITIES], blocked: true },
];

/** The frames a grant guards, and the capability each needs. */
const GUARDED: Array<{ frame: string; needs: Capability }> = [
  { frame: 'send (dm)', needs: 'dm' },
  { frame: 'send (@group)', needs: 'broadcast' },
  { frame: 'send (*)', needs: 'broadcast' },
  { frame: 'list_peers', needs: 'read' },
  { frame: 'state_get', needs: 'state-read' },
  { frame: 'state_set', needs: 'state-write' },
];
/** Frames about the sender's own things: a grant never changes them. */
/** Topics and their key epochs are governed by topic membership (docs/topics.md, protocol §5.6), not by what one member grants another. */
const UNGUARDED = [
  'delivered', 'read', 'message_status', 'set_summary', 'set_status', 'set_tags', 'join_group', 'leave_group', 'set_grants', 'list_grants', 'topic_send', 'topic_history',
  'epoch_publish', 'epoch_get', 'epoch_seal',
];

describe.each(dbKinds())('capability grants on %s', (kind) => {
  let tb: TestBroker;
  let mesh: TestMesh;
  const ids = {} as Record<'olive' | 'pete' | 'xena', Identity>;
  const inbox = { olive: [] as InboundMessage[], xena: [] as InboundMessage[], pete: [] as InboundMessage[] };
  let olive: MeshClient;
  let pete: MeshClient;
  let xena: MeshClient;
  let ds: DataSource;
  let oliveMemberId: string;
  /** Olive's notifications, read over REST. */
  let oliveApi: MeshApi;
  const receiptsX: Receipt[] = [];
  let epochTopics = 0;

  beforeAll(async () => {
    tb = await startTestBroker(kind);
    mesh = await createTestMesh(tb, 'grants');
    for (const n of ['olive', 'pete', 'xena'] as const) ids[n] = await addMember(tb, mesh, n);
    olive = await connectClient(tb, mesh, ids.olive, {}, inbox.olive);
    pete = await connectClient(tb, mesh, ids.pete, {}, inbox.pete);
    xena = await connectClient(tb, mesh, ids.xena, {}, inbox.xena);
    xena.on('receipt', (r) => receiptsX.push(r));
    await olive.joinGroup('crew');
    await xena.joinGroup('crew');
    await olive.stateSet('plan', 'v1 of the plan', 1);
    ds = tb.broker.app.get(DataSource);
    const [row] = (await ds.query('SELECT id FROM members WHERE pubkey = $1', [ids.olive.publicKey])) as Array<{ id: string }>;
    oliveMemberId = String(row!.id);
    oliveApi = new MeshApi(tb.url, (await createApiKey(tb.url, ids.olive, mesh.meshId, { label: 'olive', capabilities: ['read'] })).secret);
  });
  afterAll(async () => {
    await Promise.all([olive?.close(), pete?.close(), xena?.close()]);
    await tb?.close();
  });

  /** Whether olive got pete's message: xena's later control message to olive arrives first or with it. */
  async function reachesOlive(to: string): Promise<boolean> {
    const ack = await pete.send(to, `pete → ${to} ${Math.random()}`);
    const control = await xena.send('olive', 'control');
    await waitFor(() => inbox.olive.some((m) => m.messageId === control.message_id), 'the control DM to reach olive');
    const pushed = inbox.olive.some((m) => m.messageId === ack.message_id);
    const stored = (await ds.query('SELECT 1 FROM deliveries WHERE message_id = $1 AND recipient_member_id = $2', [ack.message_id, oliveMemberId])) as unknown[];
    // Never stored for her when refused, and pushed exactly when stored.
    expect(pushed).toBe(stored.length === 1);
    return pushed;
  }

  async function guarded(frame: string): Promise<boolean> {
    switch (frame) {
      case 'send (dm)':
        return reachesOlive('olive');
      case 'send (@group)': {
        const before = inbox.xena.length;
        const allowed = await reachesOlive('@crew');
        await waitFor(() => inbox.xena.length > before, 'xena (default grants) to get the group message');
        return allowed;
      }
      case 'send (*)':
        return reachesOlive('*');
      case 'list_peers': {
        const me = (await pete.listPeers()).find((p) => p.member_pubkey === ids.olive.publicKey)!;
        expect(me).toBeDefined(); // membership is never hidden, only presence
        return me.online && me.sessions.length > 0;
      }
      case 'state_get': {
        const entries = await pete.stateGet({ owner: ids.olive.publicKey });
        const all = await pete.stateGet();
        expect(all.some((e) => e.owner === ids.olive.publicKey)).toBe(entries.length > 0);
        return entries.length === 1 && entries[0]!.text.startsWith('v');
      }
      case 'state_set': {
        const [current] = await olive.stateGet({ key: 'plan' });
        try {
          await pete.stateSet('plan', `v${current!.version + 1} by pete`, current!.version + 1, ids.olive.publicKey);
          return true;
        } catch (error) {
          expect((error as ProtocolError).code).toBe('E_FORBIDDEN');
          return false;
        }
      }
    }
    throw new Error(frame);
  }

  async function unguarded(frame: string): Promise<void> {
    switch (frame) {
      case 'delivered':
      case 'read': {
        const ack = await xena.send('pete', 'to pete');
        await waitFor(() => inbox.pete.some((m) => m.messageId === ack.message_id), 'pete to get xena’s DM');
        if (frame === 'read') pete.markRead([ack.message_id]);
        // xena hears of pete's confirmation as a receipt, whatever olive grants pete
        await waitFor(() => receiptsX.some((r) => r.message_id === ack.message_id && r.state === frame), `xena to get pete's ${frame} receipt`);
        return;
      }
      case 'message_status': {
        const ack = await pete.send('xena', 'status probe');
        const [status] = await pete.messageStatus({ messageIds: [ack.message_id] });
        expect(status!.recipients.map((r) => r.member_pubkey)).toEqual([ids.xena.publicKey]);
        return;
      }
      case 'set_summary':
        return pete.setSummary('reviewing');
      case 'set_status':
        return pete.setStatus('working');
      case 'set_tags':
        return pete.setTags(['role:reviewer']);
      case 'join_group':
        return pete.joinGroup('pete-only');
      case 'leave_group':
        return pete.leaveGroup('pete-only');
      case 'set_grants': {
        const g = await pete.setGrants(ids.olive.publicKey, ['dm'], false);
        expect(g).toMatchObject({ peer: ids.olive.publicKey, capabilities: ['dm'], blocked: false });
        await pete.setGrants(ids.olive.publicKey, [...DEFAULT_CAPABILITIES], false);
        return;
      }
      case 'list_grants':
        expect(await pete.listGrants()).toEqual([]);
        return;
      case 'topic_send': {
        const m = await pete.topicSend('general', `pete in #general ${Math.random()}`);
        expect(m).toMatchObject({ topic: 'general', sender: { member_pubkey: ids.pete.publicKey } });
        return;
      }
      case 'topic_history': {
        const page = await pete.topicHistory('general', { limit: 5 });
        expect(page.messages.length).toBeGreaterThan(0);
        return;
      }
      // Pete makes epoch 1 of a fresh topic for himself and olive; olive gets her seal, with the
      // publish (epoch_publish) or afterwards (epoch_seal), whatever she grants him.
      case 'epoch_publish':
      case 'epoch_seal': {
        const state = (await tb.broker.app.get(MeshDirectory).get(mesh.meshId))!;
        const name = `epochs-${++epochTopics}`;
        await tb.broker.app.get(TopicsService).create({ state, member: state.byPubkey.get(ids.pete.publicKey)!, topics: null }, { name, visibility: 'public', description: '', encryption: 'plaintext' });
        const e1 = firstEpoch({ meshId: mesh.meshId, scope: topicScope(name), members: [ids.pete.publicKey, ids.olive.publicKey], creator: ids.pete });
        const forOlive = sealEpochKey(e1.context, ids.olive.publicKey, ids.pete);
        if (frame === 'epoch_publish') expect(await pete.publishEpoch(e1.signed, [forOlive])).toMatchObject({ epoch: 1 });
        else {
          await pete.publishEpoch(e1.signed, []);
          await pete.addSeals(`topic:${name}`, 1, [forOlive]);
        }
        expect((await olive.getEpochs(`topic:${name}`)).seals).toEqual([{ epoch: 1, ...forOlive }]);
        return;
      }
      case 'epoch_get':
        expect(await pete.getEpochs('topic:general')).toMatchObject({ scope: 'topic:general', hasMore: false });
        return;
    }
    throw new Error(frame);
  }

  for (const config of CONFIGS) {
    describe(`olive grants pete: ${config.name}`, () => {
      beforeAll(async () => {
        const g = await olive.setGrants(ids.pete.publicKey, config.capabilities, config.blocked);
        expect(g.blocked).toBe(config.blocked);
        expect(g.capabilities).toEqual(config.blocked ? [] : [...config.capabilities].sort());
      });

      it.each(GUARDED.map((g) => [g.frame, g.needs] as const))('%s is allowed exactly when the grant holds %s', async (frame, needs) => {
        const allowed = !config.blocked && config.capabilities.includes(needs);
        expect(await guarded(frame)).toBe(allowed);
      });

      it.each(UNGUARDED)('%s is unaffected by the grant', async (frame) => {
        await unguarded(frame);
      });

      it(`pete's @olive mention in a topic shows in olive's notifications exactly when she has not blocked him`, async () => {
        const m = await pete.topicSend('general', `@olive have a look ${Math.random()}`);
        expect((await oliveApi.notifications()).some((n) => n.message.id === m.id)).toBe(!config.blocked);
      });
    });
  }

  it('lists only the grants that differ from the defaults, and forgets a grant set back to them', async () => {
    await olive.setGrants(ids.pete.publicKey, [], true);
    expect((await olive.listGrants()).map((g) => [g.display_name, g.blocked])).toEqual([['pete', true]]);
    await olive.setGrants(ids.pete.publicKey, [...DEFAULT_CAPABILITIES], false);
    expect(await olive.listGrants()).toEqual([]);
    expect(await ds.query('SELECT 1 FROM peer_grants')).toEqual([]);
  });

  it('refuses a grant on oneself, on an unknown key, and repeated capabilities', async () => {
    await expect(olive.setGrants(ids.olive.publicKey, [], true)).rejects.toMatchObject({ code: 'E_FORBIDDEN' });
    await expect(olive.setGrants('f'.repeat(64), [], true)).rejects.toMatchObject({ code: 'E_UNKNOWN_TARGET' });
    olive.sendRaw(JSON.stringify({ type: 'set_grants', req_id: 'dup', peer: ids.pete.publicKey, capabilities: ['dm', 'dm'], blocked: false }));
    await expect(olive.listGrants()).resolves.toEqual([]); // the connection survived the E_SCHEMA
  });

  it('keeps grants in the database, and a freshly loaded mesh routes under them', async () => {
    await olive.setGrants(ids.pete.publicKey, ['read'], false);
    const [row] = (await ds.query('SELECT capabilities, blocked FROM peer_grants')) as Array<{ capabilities: string[]; blocked: boolean }>;
    expect(row).toEqual({ capabilities: ['read'], blocked: false });
    const fresh = (await new MeshDirectory(ds).get(mesh.meshId))!;
    const [o, p] = [fresh.byPubkey.get(ids.olive.publicKey)!, fresh.byPubkey.get(ids.pete.publicKey)!];
    expect(CAPABILITIES.filter((c) => fresh.allows(o.id, p.id, c))).toEqual(['read']);
    expect(CAPABILITIES.every((c) => fresh.allows(p.id, o.id, c) === DEFAULT_CAPABILITIES.includes(c))).toBe(true);
    await olive.setGrants(ids.pete.publicKey, [...DEFAULT_CAPABILITIES], false);
  });

  it('refuses a state write of a stale version with E_CONFLICT, naming the current one', async () => {
    const [current] = await olive.stateGet({ key: 'plan' });
    await expect(olive.stateSet('plan', 'stale', current!.version)).rejects.toMatchObject({ code: 'E_CONFLICT', message: expect.stringContaining(`version ${current!.version}`) });
    await expect(olive.stateSet('plan', 'new key clash', 1)).rejects.toMatchObject({ code: 'E_CONFLICT' });
    const next = await olive.stateSet('plan', 'fresh', current!.version + 1);
    expect(next).toMatchObject({ version: current!.version + 1, text: 'fresh', updatedBy: ids.olive.publicKey });
  });
});
