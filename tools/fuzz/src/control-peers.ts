/**
 * After the fuzz the broker must still serve well-behaved peers: two fresh SDK members exchange
 * DMs, then use grants and shared state end to end (§5.5, §6.4). Whatever the fuzz did before, a
 * correct broker gives these exact answers: the pair joins after it, and no fuzzed frame can name it.
 */
import { DEFAULT_CAPABILITIES, MeshClient, ProtocolError, issueInvite, joinMesh, type ErrorCode, type InboundMessage } from '@claudemesh/core';
import { generateIdentity, generateMeshKey, type Identity } from '@claudemesh/crypto';
import type { Findings } from './findings.js';

export interface ControlMesh {
  httpUrl: string;
  wsUrl: string;
  meshId: string;
  owner: Identity;
}

const KEY = 'fuzz/control';

async function refused(what: string, call: Promise<unknown>, code: ErrorCode): Promise<void> {
  try {
    await call;
  } catch (error) {
    if (error instanceof ProtocolError && error.code === code) return;
    throw new Error(`${what}: expected ${code}, got ${(error as Error).message}`);
  }
  throw new Error(`${what}: expected ${code}, it succeeded`);
}

function expectThat(ok: boolean, what: string): void {
  if (!ok) throw new Error(what);
}

async function until(predicate: () => boolean, timeoutMs: number, what: string): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(what);
    await new Promise((r) => setTimeout(r, 10));
  }
}

export async function wellBehavedPair(mesh: ControlMesh, findings: Findings, timeoutMs: number): Promise<void> {
  const meshKey = generateMeshKey();
  const alice = generateIdentity();
  const bob = generateIdentity();
  for (const [identity, name] of [
    [alice, 'sdk-alice'],
    [bob, 'sdk-bob'],
  ] as const) {
    const { invite } = await issueInvite(mesh.httpUrl, { meshId: mesh.meshId, meshName: 'fuzz', brokerUrl: mesh.httpUrl, issuer: mesh.owner });
    await joinMesh(mesh.httpUrl, { invite, identity, displayName: name });
  }
  const a = new MeshClient({ url: mesh.wsUrl, meshId: mesh.meshId, identity: alice, meshKey, reconnect: false });
  const b = new MeshClient({ url: mesh.wsUrl, meshId: mesh.meshId, identity: bob, meshKey, reconnect: false });
  const inboxA: InboundMessage[] = [];
  const inboxB: InboundMessage[] = [];
  a.on('message', (m) => inboxA.push(m));
  b.on('message', (m) => inboxB.push(m));
  let step = 'connect';
  try {
    await a.connect();
    await b.connect();
    step = 'DMs';
    const hi = `hello bob after ${findings.frames} fuzz frames`;
    await a.send('sdk-bob', hi);
    await b.send('sdk-alice', 'hello alice');
    await until(() => inboxB.some((m) => m.text === hi) && inboxA.some((m) => m.text === 'hello alice'), timeoutMs, 'the DMs did not arrive');

    step = 'shared state';
    const first = await a.stateSet(KEY, 'one', 1);
    expectThat(first.version === 1, `alice's first write is v${first.version}`);
    const seen = await b.stateGet({ owner: alice.publicKey, key: KEY });
    expectThat(seen.length === 1 && seen[0]!.text === 'one' && seen[0]!.version === 1, `bob reads ${JSON.stringify(seen.map((e) => [e.text, e.version]))}`);
    await refused("bob's write to alice's key without state-write", b.stateSet(KEY, 'two', 2, alice.publicKey), 'E_FORBIDDEN');

    step = 'grants';
    const granted = await a.setGrants(bob.publicKey, [...DEFAULT_CAPABILITIES, 'state-write'], false);
    expectThat(granted.capabilities.join(',') === [...DEFAULT_CAPABILITIES, 'state-write'].sort().join(','), `stored ${granted.capabilities.join(',')}`);
    const second = await b.stateSet(KEY, 'two', 2, alice.publicKey);
    expectThat(second.version === 2 && second.updatedBy === bob.publicKey, `bob's granted write is v${second.version} by ${second.updatedBy.slice(0, 8)}…`);
    await refused("alice's stale write", a.stateSet(KEY, 'late', 2), 'E_CONFLICT');
    await refused('grants on oneself', a.setGrants(alice.publicKey, [], true), 'E_FORBIDDEN');
    await refused('grants on a stranger', a.setGrants(generateIdentity().publicKey, [], true), 'E_UNKNOWN_TARGET');

    step = 'block';
    await a.setGrants(bob.publicKey, [], true);
    const listed = await a.listGrants();
    expectThat(listed.length === 1 && listed[0]!.peer === bob.publicKey && listed[0]!.blocked, `alice lists ${JSON.stringify(listed)}`);
    // A block is silent to the sender (§5.5): a normal ack that stored no copy.
    const ack = await b.send(alice.publicKey, 'while blocked');
    expectThat(ack.recipients === 0, `a DM to a member who blocked the sender stored ${ack.recipients} copies`);
    expectThat((await b.stateGet({ owner: alice.publicKey })).length === 0, "bob still reads alice's state while blocked");
    await new Promise((r) => setTimeout(r, 200));
    expectThat(!inboxA.some((m) => m.text === 'while blocked'), 'a DM from a blocked peer was delivered');
  } catch (error) {
    findings.violation('well-behaved-peers', `SDK peers after the fuzz, ${step}: ${(error as Error).message}`);
  } finally {
    await a.close().catch(() => undefined);
    await b.close().catch(() => undefined);
  }
}
