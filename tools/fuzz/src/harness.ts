/**
 * One fuzz run against a live broker: set up two meshes, then at the same time
 *   - pipelining lanes (authenticated and not) send generated frames and check every reply,
 *   - a hello lane opens one connection per handshake / transport case,
 *   - a REST runner sends generated requests;
 * and finally check that the broker still serves: a well-behaved pair of SDK peers exchanges DMs and
 * uses grants and shared state (control-peers.ts), /healthz and /readyz answer. The CLI (main.ts) and apps/broker/test/fuzz.spec.ts both call runFuzz.
 */
import fc from 'fast-check';
import { randomUUID } from 'node:crypto';
import { MeshApi, MeshClient, createApiKey, createMesh, issueInvite, joinMesh } from '@claudemesh/core';
import { generateIdentity, meshCreateString, sign, type Identity } from '@claudemesh/crypto';
import { wellBehavedPair } from './control-peers.js';
import { Findings } from './findings.js';
import { DEFAULT_MIX, frameCase, type CaseMix, type FrameCase, type FrameContext } from './frames.js';
import { GrantStateModel } from './grant-state-model.js';
import { helloCase, runHelloCase } from './hello-lane.js';
import { fuzzIdentity, signedHello } from './keys.js';
import { DEFAULT_REST_MIX, restCase, type RestMix } from './rest-cases.js';
import { BearerRunner, bearerCase } from './rest-bearer.js';
import { RestRunner, type RestEnv } from './rest.js';
import { FrameLane, MeshModel, RawConn } from './ws-lane.js';

export interface FuzzTarget {
  /** http://host:port */
  httpUrl: string;
  /** ws://host:port/ws */
  wsUrl: string;
  adminToken: string;
  /** For a child-process broker: false once it has exited (a crash). */
  alive?: () => boolean;
}

export interface FuzzOptions {
  seed: number;
  /** Frames sent by the pipelining lanes (the hello lane adds its own): 80 % on authenticated lanes. */
  frames: number;
  restRequests: number;
  /** Requests to the bearer routes (docs/topics.md), on top of restRequests; default 0. */
  bearerRequests?: number;
  helloCases: number;
  authLanes: number;
  unauthLanes: number;
  /** Frames per pipelined window. */
  window: number;
  restConcurrency: number;
  replyTimeoutMs: number;
  mix?: CaseMix;
  restMix?: RestMix;
  log?: (line: string) => void;
  /** Progress line interval; 0 disables. */
  progressMs?: number;
  /** Violations of each kind printed as they happen (default 5). */
  printPerKind?: number;
}

export interface FuzzResult {
  seed: number;
  findings: Findings;
  /** Of which bearer-route requests (counted apart from findings.restRequests). */
  bearerRequests: number;
  elapsedMs: number;
  laneMs: number;
  framesPerSecond: number;
}

/** A 31-bit seed derived from the run seed and a path (lane, window…): runs with the same seed replay. */
export function subSeed(seed: number, ...parts: Array<number | string>): number {
  let h = (seed ^ 0x9e3779b9) >>> 0;
  for (const p of `${parts.join('/')}`) h = (Math.imul(h ^ p.charCodeAt(0), 0x01000193) >>> 0) ^ (h >>> 15);
  return h & 0x7fffffff;
}

const ANCHOR_GROUP = 'anchor-grp';
/** The WebSocket mesh's e2e topic (no epoch of it is ever stored: no generated manifest verifies). */
const E2E_TOPIC = 'fz-sealed';
const MAX_LANE_FAILURES = 20;

interface Setup {
  ctx: FrameContext;
  wsMeshId: string;
  wsOwner: Identity;
  laneMembers: Array<{ identity: Identity; name: string; session: Identity }>;
  helloMembers: Identity[];
  knownTargets: Set<string>;
  /** Sacrificial members: the only peers fuzzed set_grants frames name; they never connect. */
  grantees: Identity[];
  rest: { meshId: string; meshName: string; owner: Identity; member: Identity; createBody: Record<string, unknown> };
}

async function setup(target: FuzzTarget, opts: FuzzOptions): Promise<Setup> {
  const id = (label: string): Identity => fuzzIdentity(opts.seed, label);
  const base = target.httpUrl;
  // The WebSocket mesh. Member names start with "fz", never with "zz" (reserved for unknown targets).
  const wsOwner = id('ws-owner');
  const wsMesh = await createMesh(base, { name: `fuzz-ws-${opts.seed}`, owner: wsOwner, displayName: 'owner', adminToken: target.adminToken, meshId: randomUUID(), general: 'plaintext' });
  const wsMeshId = wsMesh.mesh_id;
  const join = async (identity: Identity, name: string): Promise<void> => {
    const { invite } = await issueInvite(base, { meshId: wsMeshId, meshName: wsMesh.name, brokerUrl: base, issuer: wsOwner });
    await joinMesh(base, { invite, identity, displayName: name });
  };
  const laneMembers: Setup['laneMembers'] = [];
  for (let i = 0; i < opts.authLanes; i++) {
    const identity = id(`lane-${i}`);
    await join(identity, `fz-lane-${i}`);
    laneMembers.push({ identity, name: `fz-lane-${i}`, session: id(`lane-${i}-session`) });
  }
  const helloMembers: Identity[] = [];
  for (let i = 0; i < 2; i++) {
    const identity = id(`hello-${i}`);
    await join(identity, `fz-hello-${i}`);
    helloMembers.push(identity);
  }
  // The anchor keeps @anchor-grp alive for the whole run: no lane member's leave_group can empty it.
  const anchor = id('anchor');
  await join(anchor, 'fz-anchor');
  const anchorClient = new MeshClient({ url: target.wsUrl, meshId: wsMeshId, identity: anchor, reconnect: false });
  await anchorClient.connect();
  await anchorClient.joinGroup(ANCHOR_GROUP);
  await anchorClient.close();

  const grantees: Identity[] = [];
  for (let i = 0; i < 2; i++) {
    const identity = id(`grantee-${i}`);
    await join(identity, `fz-grantee-${i}`);
    grantees.push(identity);
  }

  // An end-to-end encrypted topic beside #general: body_version 2 frames get past the mode check.
  const ownerKey = await createApiKey(base, wsOwner, wsMeshId, { label: 'fuzz setup', capabilities: ['read', 'send', 'admin'] });
  await new MeshApi(base, ownerKey.secret).createTopic({ name: E2E_TOPIC, encryption: 'e2e' });

  const knownTargets = new Set<string>(['owner', wsOwner.publicKey, 'fz-anchor', anchor.publicKey]);
  for (const m of laneMembers) for (const t of [m.name, m.identity.publicKey, m.session.publicKey]) knownTargets.add(t);
  helloMembers.forEach((m, i) => [`fz-hello-${i}`, m.publicKey].forEach((t) => knownTargets.add(t)));
  grantees.forEach((m, i) => [`fz-grantee-${i}`, m.publicKey].forEach((t) => knownTargets.add(t)));
  const members = [wsOwner, anchor, ...laneMembers.map((m) => m.identity), ...helloMembers, ...grantees].map((m) => m.publicKey);

  // The REST mesh: its own owner and one plain member; created by hand so the exact body can be replayed.
  const restOwner = id('rest-owner');
  const restMeshId = randomUUID();
  const restMeshName = `fuzz-rest-${opts.seed}`;
  const ts = Date.now();
  const createBody = {
    mesh_id: restMeshId,
    name: restMeshName,
    owner_pubkey: restOwner.publicKey,
    display_name: 'owner',
    peer_type: 'ai',
    ts,
    sig: sign(meshCreateString({ meshId: restMeshId, name: restMeshName, ownerPubkey: restOwner.publicKey, displayName: 'owner', ts }), restOwner.secretKey),
    // The bearer lane posts text to #general and reads it back: a plaintext #general.
    general: 'plaintext',
  };
  const created = await fetch(`${base}/api/v1/meshes`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `Bearer ${target.adminToken}` },
    body: JSON.stringify(createBody),
  });
  if (created.status !== 201) throw new Error(`could not create the REST mesh: ${created.status} ${await created.text()}`);
  const restMember = id('rest-member');
  const { invite } = await issueInvite(base, { meshId: restMeshId, meshName: restMeshName, brokerUrl: base, issuer: restOwner });
  await joinMesh(base, { invite, identity: restMember, displayName: 'member' });

  return {
    ctx: {
      meshId: wsMeshId,
      knownTargets: [...knownTargets],
      knownGroups: [`@${ANCHOR_GROUP}`],
      members,
      grantees: grantees.map((g) => g.publicKey),
      sessionKeys: laneMembers.map((m) => m.session.publicKey),
      e2eTopics: [E2E_TOPIC],
    },
    wsMeshId,
    wsOwner,
    laneMembers,
    helloMembers,
    knownTargets,
    grantees,
    rest: { meshId: restMeshId, meshName: restMeshName, owner: restOwner, member: restMember, createBody },
  };
}

async function authenticatedConn(target: FuzzTarget, meshId: string, member: Identity, session: Identity, timeoutMs: number): Promise<RawConn> {
  const conn = await RawConn.open(target.wsUrl, timeoutMs);
  let acked = false;
  let refused: unknown = null;
  conn.onFrame = (frame) => {
    if (frame['type'] === 'hello_ack') acked = true;
    else if (frame['type'] === 'error') refused = frame;
  };
  conn.send(JSON.stringify(signedHello(meshId, member, session, conn.challenge!)));
  if (!(await conn.until(() => acked || refused !== null || conn.closed !== null, timeoutMs)) || !acked) {
    conn.terminate();
    throw new Error(`lane hello refused: ${JSON.stringify(refused ?? conn.closed)}`);
  }
  return conn;
}

async function health(target: FuzzTarget, findings: Findings): Promise<void> {
  for (const path of ['/healthz', '/readyz']) {
    // Readiness may lag a moment while the database drains the run's last writes.
    let last = '';
    for (let attempt = 0; attempt < 10; attempt++) {
      try {
        const res = await fetch(`${target.httpUrl}${path}`);
        if (res.status === 200) {
          last = '';
          break;
        }
        last = `${path} answered ${res.status}: ${await res.text()}`;
      } catch (error) {
        last = `${path}: ${(error as Error).message}`;
      }
      await new Promise((r) => setTimeout(r, 500));
    }
    if (last) findings.violation('health', last);
  }
}

export async function runFuzz(target: FuzzTarget, opts: FuzzOptions): Promise<FuzzResult> {
  const log = opts.log ?? (() => undefined);
  const findings = new Findings(log, opts.printPerKind ?? 5);
  const started = Date.now();
  const s = await setup(target, opts);
  const mix = opts.mix ?? DEFAULT_MIX;
  const knownGroups = new Set(s.ctx.knownGroups);
  const e2eTopics = new Set(s.ctx.e2eTopics);
  const arbitrary = frameCase(s.ctx, mix);
  const members = new Set(s.ctx.members);
  const keyless = new Set(s.ctx.grantees);
  const sample = <T>(arb: fc.Arbitrary<T>, seed: number, numRuns: number): T[] => fc.sample(arb, { seed, numRuns });

  let crashed = false;
  const checkAlive = (): boolean => {
    if (!crashed && target.alive && !target.alive()) {
      crashed = true;
      findings.crashes++;
      findings.violation('crash', 'the broker process exited during the run');
    }
    return !crashed;
  };

  // Fixed quotas: authenticated lanes (the interesting, database-backed paths) carry most of the frames.
  const authShare = opts.unauthLanes > 0 ? 0.8 : 1;
  const quota = (authenticated: boolean, i: number): number => {
    const [share, count] = authenticated ? [authShare, opts.authLanes] : [1 - authShare, opts.unauthLanes];
    const total =
      Math.round(opts.frames * share) + (authenticated || opts.authLanes === 0 ? 0 : opts.frames - Math.round(opts.frames * authShare) - Math.round(opts.frames * (1 - authShare)));
    return Math.floor(total / count) + (i < total % count ? 1 : 0);
  };
  const lanes: Array<{ name: string; lane: FrameLane; quota: number; arbitrary: fc.Arbitrary<FrameCase> }> = [];
  s.laneMembers.forEach((m, i) => {
    const self = m.identity.publicKey;
    lanes.push({
      quota: quota(true, i),
      name: `auth-${i}`,
      // The lane's own context: its set_grants may name itself (E_FORBIDDEN), its state frames its own keys.
      arbitrary: frameCase({ ...s.ctx, self }, mix),
      lane: new FrameLane({
        name: `auth-${i} (${m.name})`,
        findings,
        connect: () => authenticatedConn(target, s.wsMeshId, m.identity, m.session, opts.replyTimeoutMs),
        authenticated: true,
        model: new MeshModel(s.knownTargets, knownGroups, e2eTopics),
        grantState: new GrantStateModel({ self, members, keyless }),
        replyTimeoutMs: opts.replyTimeoutMs,
        confirmPushes: true,
      }),
    });
  });
  for (let i = 0; i < opts.unauthLanes; i++) {
    lanes.push({
      quota: quota(false, i),
      name: `unauth-${i}`,
      arbitrary,
      lane: new FrameLane({
        name: `unauth-${i}`,
        findings,
        connect: () => RawConn.open(target.wsUrl, opts.replyTimeoutMs),
        authenticated: false,
        model: new MeshModel(s.knownTargets, knownGroups, e2eTopics),
        replyTimeoutMs: opts.replyTimeoutMs,
        confirmPushes: false,
      }),
    });
  }

  const laneStarted = Date.now();
  const runLane = async ({ name, lane, quota: laneQuota, arbitrary: cases }: (typeof lanes)[number]): Promise<void> => {
    let sent = 0;
    let failures = 0;
    for (let w = 0; sent < laneQuota && checkAlive(); w++) {
      const n = Math.min(opts.window, laneQuota - sent);
      try {
        // Cases a lane does not send (a schema-valid hello before authentication) are made up next window.
        sent += await lane.runWindow(sample(cases, subSeed(opts.seed, name, w), n));
        failures = 0;
      } catch (error) {
        findings.violation('lane-error', `${name} window ${w}: ${(error as Error).message}`);
        // A lane that cannot send at all (the broker refuses its connections) gives up rather than spin.
        if (++failures >= MAX_LANE_FAILURES) {
          findings.violation('lane-error', `${name}: ${failures} windows failed in a row, lane stopped`);
          break;
        }
        await new Promise((r) => setTimeout(r, 200));
      }
    }
    await lane.finish(500).catch(() => undefined);
  };

  const helloEnv = {
    wsUrl: target.wsUrl,
    meshId: s.wsMeshId,
    members: s.helloMembers,
    stranger: fuzzIdentity(opts.seed, 'stranger'),
    session: generateIdentity,
    model: new MeshModel(s.knownTargets, knownGroups, e2eTopics),
    findings,
    timeoutMs: opts.replyTimeoutMs,
  };
  const runHellos = async (): Promise<void> => {
    const cases = sample(helloCase(s.ctx), subSeed(opts.seed, 'hello'), opts.helloCases);
    for (const hc of cases) {
      if (!checkAlive()) return;
      await runHelloCase(helloEnv, hc).catch((error: unknown) => findings.violation('lane-error', `hello/${hc.scenario}: ${(error as Error).message}`));
    }
  };

  const restEnv: RestEnv = {
    baseUrl: target.httpUrl,
    adminToken: target.adminToken,
    meshId: s.rest.meshId,
    meshName: s.rest.meshName,
    owner: s.rest.owner,
    member: s.rest.member,
    identity: (label) => fuzzIdentity(opts.seed, `rest/${label}`),
    findings,
    timeoutMs: opts.replyTimeoutMs,
    createBody: s.rest.createBody,
  };
  const rest = new RestRunner(restEnv);
  const bearer = (opts.bearerRequests ?? 0) > 0 ? await BearerRunner.start(restEnv) : null;
  const bearerCases = bearer ? sample(bearerCase(bearer.routes), subSeed(opts.seed, 'bearer'), opts.bearerRequests ?? 0) : [];
  let bearerNext = 0;
  const runBearer = async (): Promise<void> => {
    while (bearer && bearerNext < bearerCases.length && checkAlive()) {
      const c = bearerCases[bearerNext++]!;
      await bearer.run(c).catch((error: unknown) => findings.violation('lane-error', `${c.label}: ${(error as Error).stack ?? String(error)}`));
    }
  };
  const restCases = sample(restCase(s.rest.meshId, opts.restMix ?? DEFAULT_REST_MIX), subSeed(opts.seed, 'rest'), opts.restRequests);
  let restNext = 0;
  const runRest = async (): Promise<void> => {
    while (restNext < restCases.length && findings.restRequests < opts.restRequests && checkAlive()) {
      const c = restCases[restNext++]!;
      await rest.run(c).catch((error: unknown) => findings.violation('lane-error', `${c.label}: ${(error as Error).stack ?? String(error)}`));
    }
  };

  const progress =
    opts.progressMs && opts.progressMs > 0
      ? setInterval(() => {
          const secs = (Date.now() - laneStarted) / 1000;
          log(
            `fuzz: ${findings.frames} frames (${Math.round(findings.frames / secs)}/s), ${findings.replies} replies, ${findings.pushes} pushes, ${findings.restRequests} rest, ${findings.connections} connections, ${findings.unexpected} unexpected`,
          );
        }, opts.progressMs)
      : null;
  try {
    await Promise.all([...lanes.map(runLane), runHellos(), ...Array.from({ length: opts.restConcurrency }, runRest), ...Array.from({ length: bearer ? opts.restConcurrency : 0 }, runBearer)]);
  } finally {
    if (progress) clearInterval(progress);
    rest.close();
    bearer?.close();
  }
  const laneMs = Date.now() - laneStarted;
  if (checkAlive()) {
    await wellBehavedPair({ httpUrl: target.httpUrl, wsUrl: target.wsUrl, meshId: s.wsMeshId, owner: s.wsOwner }, findings, opts.replyTimeoutMs);
    await bearer?.roundTrip();
    await health(target, findings);
  }
  checkAlive();
  return { seed: opts.seed, findings, bearerRequests: bearer?.requests ?? 0, elapsedMs: Date.now() - started, laneMs, framesPerSecond: Math.round(findings.frames / (laneMs / 1000)) };
}

export function summaryLine(r: FuzzResult): string {
  return `fuzz: ${r.findings.frames} frames, ${r.findings.restRequests + r.bearerRequests} rest requests, ${r.findings.crashes} crashes, ${r.findings.unexpected} unexpected`;
}
