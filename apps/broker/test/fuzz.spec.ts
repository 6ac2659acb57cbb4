/**
 * Property-based fuzzing of the wire protocol (docs/protocol.md), a small slice of `npm run fuzz`:
 * the same generators (tools/fuzz/src/frames.ts, rest-cases.ts, rest-bearer-cases.ts) and oracle (oracle.ts) against an
 * in-process broker. Set FUZZ_SEED to replay a failing run; the seed is in every failure message.
 */
import fc from 'fast-check';
import type { Identity } from '@claudemesh/crypto';
import { readFileSync } from 'node:fs';
import {
  CLIENT_FRAME_SCHEMAS, ERROR_CODES, MeshApi, createApiKey, createMesh, decodeClientFrame, isErrorCode, issueInvite, joinMesh, type ClientFrameType,
} from '@claudemesh/core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestBroker, type TestBroker } from '../../../test/helpers/broker.js';
import { FUZZ_BROKER_LIMITS } from '../../../tools/fuzz/src/broker-limits.js';
import { Findings } from '../../../tools/fuzz/src/findings.js';
import { CLIENT_FRAME_TYPES, FRAME_FIELDS, frameCase, mutatedFrame, validCase, type FrameContext } from '../../../tools/fuzz/src/frames.js';
import { GrantStateModel } from '../../../tools/fuzz/src/grant-state-model.js';
import { runFuzz, summaryLine } from '../../../tools/fuzz/src/harness.js';
import { fuzzIdentity, signedHello } from '../../../tools/fuzz/src/keys.js';
import { classifiedAs, classifyFrame } from '../../../tools/fuzz/src/oracle.js';
import { bearerCase } from '../../../tools/fuzz/src/rest-bearer-cases.js';
import { bearerRoutes } from '../../../tools/fuzz/src/rest-bearer-routes.js';
import { FrameLane, MeshModel, RawConn } from '../../../tools/fuzz/src/ws-lane.js';

const SEED = process.env['FUZZ_SEED'] !== undefined ? Number(process.env['FUZZ_SEED']) : Math.floor(Math.random() * 2 ** 31);
const replay = `seed ${SEED} (replay: FUZZ_SEED=${SEED} npx vitest run apps/broker/test/fuzz.spec.ts)`;

/** A context without a live mesh, for the pure properties. */
const OFFLINE: FrameContext = {
  meshId: '3f2a1c4e-5b6d-4e7f-8a9b-0c1d2e3f4a5b',
  knownTargets: ['alice', 'a'.repeat(64)],
  knownGroups: ['@reviewers'],
  members: ['a'.repeat(64), 'b'.repeat(64)],
  grantees: ['b'.repeat(64)],
  sessionKeys: ['c'.repeat(64)],
  self: 'a'.repeat(64),
  e2eTopics: ['fz-sealed'],
};


/** A raw connection that completed its hello as `member` over `session` (what each lane reconnects with). */
async function helloed(wsUrl: string, meshId: string, member: Identity, session: Identity): Promise<RawConn> {
  const conn = await RawConn.open(wsUrl);
  let acked = false;
  conn.onFrame = (f) => (acked ||= f['type'] === 'hello_ack');
  conn.send(JSON.stringify(signedHello(meshId, member, session, conn.challenge!)));
  await conn.until(() => acked, 5_000);
  return conn;
}
describe('fuzz: the field table (§5.2)', () => {
  it('lists exactly the fields of every client frame schema, required as the schema requires', () => {
    for (const type of Object.keys(CLIENT_FRAME_SCHEMAS) as ClientFrameType[]) {
      const shape = CLIENT_FRAME_SCHEMAS[type].shape as Record<string, { safeParse(v: unknown): { success: boolean } }>;
      expect(FRAME_FIELDS[type].map((f) => f.name).sort(), type).toEqual(Object.keys(shape).sort());
      // message_status's two id lists are each optional to the schema; its refinement wants one.
      for (const field of FRAME_FIELDS[type]) expect(field.required, `${type}.${field.name}`).toBe(!shape[field.name]!.safeParse(undefined).success);
    }
  });

  it('generates valid and mutated frames of every client frame type', () => {
    const labels = new Set(fc.sample(frameCase(OFFLINE), { seed: SEED, numRuns: 4000 }).map((c) => c.label.split('/')[0]));
    expect([...CLIENT_FRAME_TYPES].filter((t) => !labels.has(t))).toEqual([]);
  });

  it('generates topic_send of both body versions, and epoch frames for the e2e topics of the context', () => {
    const frames = (type: ClientFrameType, n: number): Array<Record<string, unknown>> =>
      fc.sample(validCase(OFFLINE, type), { seed: SEED, numRuns: n }).map((c) => JSON.parse(c.data as string) as Record<string, unknown>);
    const sends = frames('topic_send', 400);
    const sealed = sends.filter((f) => f['body_version'] === 2);
    expect(sealed.length).toBeGreaterThan(0);
    expect(sealed.every((f) => f['text'] === undefined && ['key_epoch', 'nonce', 'ciphertext', 'sig'].every((k) => f[k] !== undefined))).toBe(true);
    expect(sealed.some((f) => f['topic'] === 'fz-sealed')).toBe(true);
    expect(sends.some((f) => f['body_version'] !== 2 && typeof f['text'] === 'string')).toBe(true);
    const mutated = new Set(fc.sample(mutatedFrame(OFFLINE, 'topic_send'), { seed: SEED, numRuns: 2000 }).map((c) => c.label.split(':')[1]?.split('=')[0]));
    for (const field of ['key_epoch', 'nonce', 'ciphertext', 'sig', 'mentions', 'body_version']) expect(mutated.has(field), field).toBe(true);
    for (const type of ['epoch_get', 'epoch_seal'] as const) expect(frames(type, 400).some((f) => f['scope'] === 'topic:fz-sealed'), type).toBe(true);
  });
  it('generates send of both body versions: version 2 only to @group and *, with key_epoch and sig, and mutations that keep or break the version', () => {
    const sends = fc.sample(validCase(OFFLINE, 'send'), { seed: SEED, numRuns: 400 }).map((c) => JSON.parse(c.data as string) as Record<string, unknown>);
    const sealed = sends.filter((f) => f['body_version'] === 2);
    expect(sealed.length).toBeGreaterThan(0);
    expect(sealed.every((f) => ['key_epoch', 'nonce', 'ciphertext', 'sig'].every((k) => f[k] !== undefined))).toBe(true);
    expect(sealed.every((f) => f['to'] === '*' || String(f['to']).startsWith('@'))).toBe(true);
    expect(sealed.some((f) => f['to'] === '*') && sealed.some((f) => f['to'] === '@reviewers')).toBe(true);
    const plain = sends.filter((f) => f['body_version'] !== 2);
    expect(plain.length).toBeGreaterThan(0);
    expect(plain.every((f) => f['key_epoch'] === undefined && f['sig'] === undefined)).toBe(true);
    expect(plain.some((f) => typeof f['to'] === 'string' && !f['to'].startsWith('@') && f['to'] !== '*')).toBe(true);
    const cases = fc.sample(mutatedFrame(OFFLINE, 'send'), { seed: SEED, numRuns: 2000 });
    const mutated = new Set(cases.map((c) => c.label.split(':')[1]?.split('=')[0]));
    for (const field of ['key_epoch', 'sig', 'body_version']) expect(mutated.has(field), field).toBe(true);
    // Every mutation whose outcome the mutation decides agrees with the decoder.
    for (const c of cases) {
      if (c.expect === undefined || typeof c.data !== 'string') continue;
      const decoded = decodeClientFrame(c.data);
      expect(decoded.ok ? 'valid' : decoded.code, c.label).toBe(c.expect);
    }
  });
});

describe('fuzz: the frame decoder (§3.3)', () => {
  it('never throws and answers every string or byte sequence with a code from the frozen table', () => {
    const anyInput = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 300 }),
      fc.uint8Array({ maxLength: 300 }),
      frameCase(OFFLINE).map((c) => c.data),
    );
    fc.assert(
      fc.property(anyInput, (data) => {
        const decoded = decodeClientFrame(data);
        if (!decoded.ok) {
          expect(isErrorCode(decoded.code)).toBe(true);
          expect(ERROR_CODES[decoded.code].fatal).toBe(false);
          expect(typeof decoded.message).toBe('string');
        }
      }),
      { seed: SEED, numRuns: 3000 },
    );
  });

  it('agrees with the reference reading of §3.3 and with the code each mutation determines', () => {
    fc.assert(
      fc.property(frameCase(OFFLINE), (c) => {
        const decoded = decodeClientFrame(c.data);
        const reference = classifyFrame(c.data);
        expect(decoded.ok ? 'valid' : decoded.code, c.label).toBe(classifiedAs(reference));
        if (c.expect !== undefined) expect(classifiedAs(reference), c.label).toBe(c.expect);
        if (!decoded.ok && !reference.ok) expect(reference.refs, c.label).toContain(decoded.ref);
      }),
      { seed: SEED, numRuns: 3000 },
    );
  });

  it('accepts every generated valid frame', () => {
    fc.assert(
      fc.property(validCase(OFFLINE), (c) => {
        expect(decodeClientFrame(c.data).ok, c.label).toBe(true);
      }),
      { seed: SEED, numRuns: 1000 },
    );
  });
});

describe('fuzz: the bearer routes of the OpenAPI document', () => {
  const doc = JSON.parse(readFileSync(new URL('../../../docs/openapi.json', import.meta.url), 'utf8')) as { paths: Record<string, Record<string, { security?: Array<Record<string, unknown>> }>> };

  it('models every route of docs/openapi.json: its capability, path parameters, query, body and answer', () => {
    const table = bearerRoutes(doc);
    expect(table.problems).toEqual([]);
    const bearer = Object.entries(doc.paths).flatMap(([path, ops]) =>
      Object.entries(ops)
        .filter(([, op]) => (op.security ?? []).some((s) => 'bearer' in s))
        .map(([m]) => `${m.toUpperCase()} ${path}`),
    );
    expect(table.routes.map((r) => r.key).sort()).toEqual(bearer.sort());
    expect(table.signed.length).toBeGreaterThan(0);
  });

  it('generates cases for every bearer route', () => {
    const { routes } = bearerRoutes(doc);
    const seen = new Set(fc.sample(bearerCase(routes), { seed: SEED, numRuns: 3000 }).map((c) => c.route.key));
    expect(routes.map((r) => r.key).filter((k) => !seen.has(k))).toEqual([]);
  });
});

describe('fuzz: a live broker', () => {
  let tb: TestBroker;

  beforeAll(async () => {
    tb = await startTestBroker('embedded', { ...FUZZ_BROKER_LIMITS });
  });
  afterAll(async () => tb?.close());

  it('answers every mutation of a valid send frame with a stable code, and stays usable', async () => {
    const owner = fuzzIdentity(SEED, 'spec-owner');
    const member = fuzzIdentity(SEED, 'spec-member');
    const mesh = await createMesh(tb.url, { name: 'fuzz-send', owner, displayName: 'owner', adminToken: tb.adminToken, general: 'plaintext' });
    const { invite } = await issueInvite(tb.url, { meshId: mesh.mesh_id, meshName: mesh.name, brokerUrl: tb.url, issuer: owner });
    await joinMesh(tb.url, { invite, identity: member, displayName: 'fz-member' });
    const ctx: FrameContext = {
      meshId: mesh.mesh_id,
      knownTargets: ['owner', owner.publicKey, 'fz-member', member.publicKey],
      knownGroups: [],
      members: [owner.publicKey, member.publicKey],
      grantees: [],
      sessionKeys: [],
    };
    const findings = new Findings();
    const session = fuzzIdentity(SEED, 'spec-session');
    const lane = new FrameLane({
      name: 'send-mutations',
      findings,
      connect: () => helloed(tb.wsUrl, mesh.mesh_id, member, session),
      authenticated: true,
      model: new MeshModel(new Set(ctx.knownTargets), new Set()),
      replyTimeoutMs: 10_000,
      confirmPushes: true,
    });
    await fc.assert(
      fc.asyncProperty(mutatedFrame(ctx, 'send'), async (c) => {
        await lane.runWindow([c]);
        expect(findings.violations, `${c.label}; ${replay}`).toEqual([]);
      }),
      { seed: SEED, numRuns: 300 },
    );
    // Valid sends of both body versions: the mesh has no mesh-scope epoch, so version 2 to `*` (or
    // a group) is E_EPOCH_STALE and version 1 is acked.
    for (const c of fc.sample(validCase(ctx, 'send'), { seed: SEED, numRuns: 80 })) {
      await lane.runWindow([c]);
      expect(findings.violations, `${c.label}; ${replay}`).toEqual([]);
    }
    await lane.finish(200);
    expect(findings.violations, replay).toEqual([]);
    for (const code of ['E_EPOCH_STALE', 'ack'] as const) expect(findings.outcomes.get(code) ?? 0, code).toBeGreaterThan(0);
  }, 120_000);

  it('answers topic and epoch frames of both body versions, on a plaintext and an e2e topic, and their mutations as the protocol says', async () => {
    const owner = fuzzIdentity(SEED, 'e2e-owner');
    const member = fuzzIdentity(SEED, 'e2e-member');
    const session = fuzzIdentity(SEED, 'e2e-session');
    const mesh = await createMesh(tb.url, { name: 'fuzz-e2e', owner, displayName: 'owner', adminToken: tb.adminToken, general: 'plaintext' });
    const { invite } = await issueInvite(tb.url, { meshId: mesh.mesh_id, meshName: mesh.name, brokerUrl: tb.url, issuer: owner });
    await joinMesh(tb.url, { invite, identity: member, displayName: 'fz-member' });
    const key = await createApiKey(tb.url, owner, mesh.mesh_id, { label: 'setup', capabilities: ['read', 'send', 'admin'] });
    await new MeshApi(tb.url, key.secret).createTopic({ name: 'fz-sealed', encryption: 'e2e' });
    const members = [owner.publicKey, member.publicKey];
    const ctx: FrameContext = {
      meshId: mesh.mesh_id,
      knownTargets: ['owner', ...members, 'fz-member'],
      knownGroups: [],
      members,
      grantees: [],
      sessionKeys: [session.publicKey],
      self: member.publicKey,
      e2eTopics: ['fz-sealed'],
    };
    const findings = new Findings();
    const lane = new FrameLane({
      name: 'topic-e2e',
      findings,
      connect: () => helloed(tb.wsUrl, mesh.mesh_id, member, session),
      authenticated: true,
      model: new MeshModel(new Set(ctx.knownTargets), new Set(), new Set(ctx.e2eTopics)),
      replyTimeoutMs: 10_000,
      confirmPushes: true,
    });
    const types = ['topic_send', 'topic_history', 'epoch_publish', 'epoch_get', 'epoch_seal'] as const;
    const cases = fc.oneof({ weight: 3, arbitrary: validCase(ctx, 'topic_send') }, ...types.flatMap((t) => [validCase(ctx, t), mutatedFrame(ctx, t)]));
    await fc.assert(
      fc.asyncProperty(fc.array(cases, { minLength: 1, maxLength: 4 }), async (window) => {
        await lane.runWindow(window);
        expect(findings.violations, `${window.map((c) => c.label).join(', ')}; ${replay}`).toEqual([]);
      }),
      { seed: SEED, numRuns: 150 },
    );
    await lane.finish(200);
    expect(findings.violations, replay).toEqual([]);
    // Sealed posts reach the epoch check on the e2e topic; each version meets the other topic's mode.
    for (const code of ['E_EPOCH_STALE', 'E_TOPIC_MODE', 'topic_ack', 'epochs'] as const) expect(findings.outcomes.get(code) ?? 0, code).toBeGreaterThan(0);
  }, 120_000);

  it('answers grant and shared-state frames and their mutations as the protocol says, keeping grants and versions exact', async () => {
    const owner = fuzzIdentity(SEED, 'gs-owner');
    const member = fuzzIdentity(SEED, 'gs-member');
    const grantee = fuzzIdentity(SEED, 'gs-grantee');
    const session = fuzzIdentity(SEED, 'gs-session');
    const mesh = await createMesh(tb.url, { name: 'fuzz-grants', owner, displayName: 'owner', adminToken: tb.adminToken });
    for (const [identity, name] of [
      [member, 'fz-member'],
      [grantee, 'fz-grantee'],
    ] as const) {
      const { invite } = await issueInvite(tb.url, { meshId: mesh.mesh_id, meshName: mesh.name, brokerUrl: tb.url, issuer: owner });
      await joinMesh(tb.url, { invite, identity, displayName: name });
    }
    const members = [owner.publicKey, member.publicKey, grantee.publicKey];
    const ctx: FrameContext = {
      meshId: mesh.mesh_id,
      knownTargets: ['owner', ...members],
      knownGroups: [],
      members,
      grantees: [grantee.publicKey],
      sessionKeys: [session.publicKey],
      self: member.publicKey,
    };
    const findings = new Findings();
    const lane = new FrameLane({
      name: 'grant-state',
      findings,
      connect: () => helloed(tb.wsUrl, mesh.mesh_id, member, session),
      authenticated: true,
      model: new MeshModel(new Set(ctx.knownTargets), new Set()),
      grantState: new GrantStateModel({ self: member.publicKey, members: new Set(members), keyless: new Set([grantee.publicKey]) }),
      replyTimeoutMs: 10_000,
      confirmPushes: true,
    });
    const types = ['set_grants', 'list_grants', 'state_set', 'state_get'] as const;
    const cases = fc.oneof(...types.flatMap((t) => [validCase(ctx, t), mutatedFrame(ctx, t)]));
    // Windows of one to four frames: alone, every answer is predicted exactly; together, in any order.
    await fc.assert(
      fc.asyncProperty(fc.array(cases, { minLength: 1, maxLength: 4 }), async (window) => {
        await lane.runWindow(window);
        expect(findings.violations, `${window.map((c) => c.label).join(', ')}; ${replay}`).toEqual([]);
      }),
      { seed: SEED, numRuns: 300 },
    );
    await lane.finish(200);
    expect(findings.violations, replay).toEqual([]);
    expect(findings.outcomes.get('state') ?? 0, 'some writes and reads succeeded').toBeGreaterThan(0);
    expect(findings.outcomes.get('grants') ?? 0).toBeGreaterThan(0);
  }, 120_000);

  it('answers every frame under tiny rate limits as the protocol says or with E_RATE_LIMITED carrying retry_after_ms, and keeps the connection', async () => {
    const limited = await startTestBroker('embedded', {
      ...FUZZ_BROKER_LIMITS,
      CLAUDEMESH_WS_CONN_FRAMES_PER_S: '40',
      CLAUDEMESH_WS_CONN_BYTES_PER_S: String(256 * 1024),
      CLAUDEMESH_WS_CONN_COSTLY_PER_S: '10',
    });
    try {
      const owner = fuzzIdentity(SEED, 'rl-owner');
      const member = fuzzIdentity(SEED, 'rl-member');
      const mesh = await createMesh(limited.url, { name: 'fuzz-rate', owner, displayName: 'owner', adminToken: limited.adminToken, general: 'plaintext' });
      const { invite } = await issueInvite(limited.url, { meshId: mesh.mesh_id, meshName: mesh.name, brokerUrl: limited.url, issuer: owner });
      await joinMesh(limited.url, { invite, identity: member, displayName: 'fz-member' });
      const ctx: FrameContext = {
        meshId: mesh.mesh_id,
        knownTargets: ['owner', owner.publicKey, 'fz-member', member.publicKey],
        knownGroups: [],
        members: [owner.publicKey, member.publicKey],
        grantees: [],
        sessionKeys: [],
      };
      const findings = new Findings();
      const session = fuzzIdentity(SEED, 'rl-session');
      let connections = 0;
      const lane = new FrameLane({
        name: 'rate-limited',
        findings,
        connect: async () => {
          connections++;
          const conn = await RawConn.open(limited.wsUrl);
          let acked = false;
          conn.onFrame = (f) => (acked ||= f['type'] === 'hello_ack');
          conn.send(JSON.stringify(signedHello(mesh.mesh_id, member, session, conn.challenge!)));
          await conn.until(() => acked, 5_000);
          return conn;
        },
        authenticated: true,
        model: new MeshModel(new Set(ctx.knownTargets), new Set()),
        replyTimeoutMs: 30_000,
        confirmPushes: true,
        rateLimited: true,
      });
      await fc.assert(
        fc.asyncProperty(fc.array(frameCase(ctx), { minLength: 1, maxLength: 20 }), async (window) => {
          await lane.runWindow(window);
          expect(findings.violations, `${window.map((c) => c.label).join(', ')}; ${replay}`).toEqual([]);
        }),
        { seed: SEED, numRuns: 40 },
      );
      // Forty costly frames at once, whatever the load: past the bucket of twenty, so some are refused.
      await lane.runWindow(fc.sample(validCase(ctx, 'list_peers'), { seed: SEED, numRuns: 40 }));
      await lane.finish(500);
      expect(findings.violations, replay).toEqual([]);
      expect(findings.outcomes.get('E_RATE_LIMITED') ?? 0, 'some frames were refused').toBeGreaterThan(0);
      expect(connections, 'one connection throughout').toBe(1);
    } finally {
      await limited.close();
    }
  }, 180_000);

  it('keeps to the protocol under a mixed stream of frames, handshakes, signed and bearer REST requests', async () => {
    const lines: string[] = [];
    const result = await runFuzz(
      { httpUrl: tb.url, wsUrl: tb.wsUrl, adminToken: tb.adminToken },
      {
        seed: SEED,
        frames: 2_000,
        restRequests: 200,
        bearerRequests: 300,
        helloCases: 40,
        authLanes: 2,
        unauthLanes: 1,
        window: 100,
        restConcurrency: 2,
        replyTimeoutMs: 10_000,
        log: (line) => lines.push(line),
        printPerKind: 3,
      },
    );
    const f = result.findings;
    expect(
      f.violations.map((v) => `[${v.kind}] ${v.detail}${v.context ? ` — ${v.context}` : ''}`),
      `${summaryLine(result)}; ${replay}`,
    ).toEqual([]);
    expect(f.frames).toBeGreaterThanOrEqual(2_000);
    expect(f.restRequests).toBeGreaterThanOrEqual(200);
    expect(result.bearerRequests).toBe(300);
    expect(f.crashes).toBe(0);
  }, 180_000);
});
