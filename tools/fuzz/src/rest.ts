/**
 * REST fuzzing, the runner: sends the generated cases (rest-cases.ts) to a live broker, signing
 * them for real (rest-transport.ts), and checks each answer against the model (rest-model.ts) with
 * the oracle.
 */
import http from 'node:http';
import { randomUUID } from 'node:crypto';
import { CreateMeshBody, InviteResponse, JoinResponse, LIMITS, MembersResponse, MeshName, MeshResponse, ShortInviteClaimResponse, ShortInviteResolveResponse, formatSignedRequestAuth, nextRequestTs } from '@claudemesh/core';
import { createInvite, createShortInvite, deriveInviteLookup, generateInviteCode, joinString, meshCreateString, requestString, sha256Hex, shortInviteClaimString, sign, toB64u, type Identity, type SignedInvite } from '@claudemesh/crypto';
import { checkRestResponse, type RestAnswer, type RestExpectation } from './oracle.js';
import { FUZZ_MESH_KEY } from './rest-cases.js';
import { JSON_CT, restModel, type Recipe, type RestCase } from './rest-model.js';
import { exchange, prepare, rawExchange, type Prepared, type RestEnv } from './rest-transport.js';

export type { RestEnv } from './rest-transport.js';


const SUCCESS_SCHEMAS: Array<[RegExp, { safeParse: (v: unknown) => { success: boolean } }]> = [
  [/^\/api\/v1\/meshes$/, MeshResponse],
  [/^\/api\/v1\/invites\/v2\/resolve$/, ShortInviteResolveResponse],
  [/^\/api\/v1\/invites\/v2\/claim$/, ShortInviteClaimResponse],
  [/\/invites\/v2(\?|$)/, InviteResponse],
  [/\/invites\/v2\/[^/]+\/revoke/, InviteResponse],
  [/^\/api\/v1\/join/, JoinResponse],
  [/\/members(\?|$)/, MembersResponse],
  [/\/invites\/[^/]+\/revoke/, InviteResponse],
  [/\/invites(\?|$)/, { safeParse: (v) => ({ success: Array.isArray((v as { invites?: unknown }).invites) || InviteResponse.safeParse(v).success }) }],
];

export class RestRunner {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 8 });
  private counter = 0;

  constructor(private readonly env: RestEnv) {}

  close(): void {
    this.agent.destroy();
  }

  private async send(c: RestCase, req: Prepared, expect: RestExpectation, context: string): Promise<RestAnswer | null> {
    const { findings } = this.env;
    findings.restRequests++;
    findings.countLabel(c.label);
    let answer: RestAnswer;
    try {
      answer = c.raw !== undefined ? await rawExchange(this.env, c.raw) : await exchange(this.env, req, this.agent);
    } catch (error) {
      findings.violation('rest-no-answer', `${c.label}: ${req.method} ${req.path.slice(0, 100)}: ${(error as Error).message}`, context);
      return null;
    }
    if (c.raw !== undefined && answer.status === 0 && answer.body === '') return answer; // closed without an answer: HTTP-level refusal
    const problem = checkRestResponse(answer, expect);
    if (problem) findings.violation(answer.status >= 500 ? 'rest-5xx' : 'rest-unexpected', `${c.label}: ${req.method} ${req.path.slice(0, 100)} → ${problem}`, context);
    else {
      findings.countOutcome(answer.status < 400 ? `HTTP ${answer.status}` : `HTTP ${answer.status}`);
      if (answer.status < 300 && req.method !== 'HEAD' && answer.contentType.startsWith('application/json')) this.checkSuccessBody(c, req, answer, context);
    }
    return answer;
  }

  private checkSuccessBody(c: RestCase, req: Prepared, answer: RestAnswer, context: string): void {
    const path = req.path.replace(/\?.*$/, '');
    const schema = SUCCESS_SCHEMAS.find(([re]) => re.test(path))?.[1];
    if (!schema) return;
    let json: unknown;
    try {
      json = JSON.parse(answer.body);
    } catch {
      this.env.findings.violation('rest-unexpected', `${c.label}: success body is not JSON`, context);
      return;
    }
    if (!schema.safeParse(json).success)
      this.env.findings.violation('rest-unexpected', `${c.label}: success body does not match its schema: ${answer.body.slice(0, 200)}`, context);
  }

  async run(c: RestCase): Promise<void> {
    if (c.recipe) return this.runRecipe(c, c.recipe);
    const req = prepare(this.env, c);
    const expect = c.expect ?? restModel(c, this.env);
    const context = `${req.method} ${req.path.slice(0, 120)} ct=${req.headers['content-type'] ?? '-'} auth=${(req.headers['authorization'] ?? '-').slice(0, 40)} body=${req.body ? req.body.toString('utf8').slice(0, 120) : '-'}`;
    await this.send(c, req, expect, context);
  }

  private json(c: RestCase, method: string, path: string, body: unknown, headers: Record<string, string> = {}): Prepared {
    return { method, path, headers: { 'content-type': JSON_CT, ...headers }, body: Buffer.from(JSON.stringify(body), 'utf8') };
  }

  private signed(id: Identity, method: string, path: string, meshId: string, body: unknown, ts = nextRequestTs()): Prepared {
    const raw = body === undefined ? Buffer.alloc(0) : Buffer.from(JSON.stringify(body), 'utf8');
    const sig = sign(requestString({ method, path, meshId, ts, bodySha256Hex: sha256Hex(new Uint8Array(raw)) }), id.secretKey);
    return {
      method,
      path,
      headers: { ...(body === undefined ? {} : { 'content-type': JSON_CT }), authorization: formatSignedRequestAuth({ pubkey: id.publicKey, ts, sig }) },
      body: body === undefined ? null : raw,
    };
  }

  private invite(issuer: Identity, opts: { meshId?: string; maxUses?: number; ttlMs?: number; now?: number } = {}): SignedInvite {
    return createInvite({
      meshId: opts.meshId ?? this.env.meshId,
      meshName: this.env.meshName,
      brokerUrl: this.env.baseUrl,
      issuer,
      maxUses: opts.maxUses ?? 1,
      ...(opts.ttlMs !== undefined ? { ttlMs: opts.ttlMs } : {}),
      ...(opts.now !== undefined ? { now: opts.now } : {}),
      inviteId: `fz-${this.counter++}-${randomUUID().slice(0, 8)}`,
    });
  }

  private async register(c: RestCase, inv: SignedInvite, expect: RestExpectation = { success: [201] }): Promise<RestAnswer | null> {
    const path = `/api/v1/meshes/${this.env.meshId}/invites`;
    return this.send(c, this.signed(this.env.owner, 'POST', path, this.env.meshId, inv), expect, `register ${inv.payload.invite_id}`);
  }

  private joinRequest(inv: SignedInvite, id: Identity, displayName: string, peerType: string, ts = Date.now(), sigBy: Identity = id): Prepared {
    const sig = sign(joinString({ meshId: inv.payload.mesh_id, inviteId: inv.payload.invite_id, memberPubkey: id.publicKey, displayName, ts }), sigBy.secretKey);
    return this.json({} as RestCase, 'POST', '/api/v1/join', {
      invite: { payload: inv.payload, sig: inv.sig },
      member_pubkey: id.publicKey,
      display_name: displayName,
      peer_type: peerType,
      ts,
      sig,
    });
  }

  private shortInvite(issuer: Identity, opts: { maxUses?: number; ttlMs?: number; now?: number } = {}): ReturnType<typeof createShortInvite> {
    return createShortInvite({
      meshId: this.env.meshId,
      meshKey: FUZZ_MESH_KEY,
      issuer,
      maxUses: opts.maxUses ?? 1,
      ...(opts.ttlMs !== undefined ? { ttlMs: opts.ttlMs } : {}),
      ...(opts.now !== undefined ? { now: opts.now } : {}),
      inviteId: `fz2-${this.counter++}-${randomUUID().slice(0, 8)}`,
    });
  }

  private claimRequest(code: string, id: Identity, displayName: string, peerType: string, sigBy: Identity = id): Prepared {
    const lookup = deriveInviteLookup(code);
    const x25519 = toB64u(id.boxPublicKey);
    const ts = Date.now();
    const sig = sign(shortInviteClaimString({ lookup, memberPubkey: id.publicKey, x25519Pubkey: x25519, displayName, peerType, ts }), sigBy.secretKey);
    return this.json({} as RestCase, 'POST', '/api/v1/invites/v2/claim', { lookup, member_pubkey: id.publicKey, x25519_pubkey: x25519, display_name: displayName, peer_type: peerType, ts, sig });
  }

  /** §8.1: the broker remembers every signed request it accepted; the same bytes again are E_REPLAY, answered or refused. */
  private async runReplayRecipe(c: RestCase, r: Extract<Recipe, { kind: 'replay' }>): Promise<void> {
    const env = this.env;
    const base = `/api/v1/meshes/${env.meshId}`;
    const twice = async (req: Prepared, first: RestExpectation, what: string): Promise<void> => {
      await this.send(c, req, first, what);
      await this.send(c, req, { codes: ['E_REPLAY'] }, `${what}, replayed`);
    };
    switch (r.variant) {
      case 'members':
        return twice(this.signed(env.member, 'GET', `${base}/members`, env.meshId, undefined), { success: [200] }, 'members');
      case 'list-invites':
        return twice(this.signed(env.owner, 'GET', `${base}/invites`, env.meshId, undefined), { success: [200] }, 'list invites');
      case 'register-invite':
        return twice(this.signed(env.owner, 'POST', `${base}/invites`, env.meshId, this.invite(env.owner)), { success: [201] }, 'register invite');
      case 'revoke-invite': {
        const inv = this.invite(env.owner, { maxUses: 3 });
        await this.register(c, inv);
        return twice(this.signed(env.owner, 'POST', `${base}/invites/${inv.payload.invite_id}/revoke`, env.meshId, {}), { success: [200] }, 'revoke invite');
      }
      case 'register-v2':
        return twice(this.signed(env.owner, 'POST', `${base}/invites/v2`, env.meshId, this.shortInvite(env.owner).record), { success: [201] }, 'register short invite');
      case 'refused':
        // A request refused after its signature verified still spent it.
        return twice(this.signed(env.member, 'GET', `${base}/invites`, env.meshId, undefined), { codes: ['E_FORBIDDEN'] }, 'list invites as a member');
    }
  }

  /** Invites v2 (§9b) with real codes and signatures: issuance, resolve, claim and each refusal. */
  private async runShortInviteRecipe(c: RestCase, r: Extract<Recipe, { kind: 'short-invite' }>, n: number): Promise<void> {
    const env = this.env;
    const id = env.identity(`v2-joiner-${n}`);
    const name = `rv${n}-${r.displayName}`.slice(0, 64);
    const ctx = `short invite ${r.variant} as ${name}`;
    const registerPath = `/api/v1/meshes/${env.meshId}/invites/v2`;
    const register = (issuer: Identity, record: object, expect: RestExpectation = { success: [201] }) =>
      this.send(c, this.signed(issuer, 'POST', registerPath, env.meshId, record), expect, `${ctx}: register`);
    const claim = (code: string, who: Identity, displayName: string, expect: RestExpectation, sigBy?: Identity) =>
      this.send(c, this.claimRequest(code, who, displayName, r.peerType, sigBy), expect, `${ctx}: claim`);
    switch (r.variant) {
      case 'valid': {
        const inv = this.shortInvite(env.owner);
        await register(env.owner, inv.record);
        await this.send(c, this.json(c, 'POST', '/api/v1/invites/v2/resolve', { lookup: inv.record.lookup }), { success: [200] }, `${ctx}: resolve`);
        await claim(inv.code, id, name, { success: [200] });
        return;
      }
      case 'rejoin':
      case 'exhausted': {
        const inv = this.shortInvite(env.owner, { maxUses: 1 });
        await register(env.owner, inv.record);
        await claim(inv.code, id, name, { success: [200] });
        if (r.variant === 'rejoin') await claim(inv.code, id, name, { success: [200] });
        else await claim(inv.code, env.identity(`v2-joiner-${n}-b`), `${name}-b`.slice(0, 64), { codes: ['E_INVITE_EXHAUSTED'] });
        return;
      }
      case 'revoked': {
        const inv = this.shortInvite(env.owner, { maxUses: 5 });
        await register(env.owner, inv.record);
        const revokePath = `${registerPath}/${inv.record.invite_id}/revoke`;
        await this.send(c, this.signed(env.owner, 'POST', revokePath, env.meshId, {}), { success: [200] }, `${ctx}: revoke`);
        await claim(inv.code, id, name, { codes: ['E_INVITE_REVOKED'] });
        return;
      }
      case 'expired':
        await register(env.owner, this.shortInvite(env.owner, { ttlMs: 1000, now: Date.now() - 3_600_000 }).record, { codes: ['E_INVITE_EXPIRED'] });
        return;
      case 'bad-record-sig': {
        const { record } = this.shortInvite(env.owner);
        await register(env.owner, { ...record, max_uses: record.max_uses + 1 }, { codes: ['E_INVITE_INVALID'] });
        return;
      }
      case 'bad-claim-sig': {
        const inv = this.shortInvite(env.owner);
        await register(env.owner, inv.record);
        await claim(inv.code, id, name, { codes: ['E_BAD_SIGNATURE'] }, env.identity('other-key'));
        return;
      }
      case 'not-found': {
        const code = generateInviteCode();
        await this.send(c, this.json(c, 'POST', '/api/v1/invites/v2/resolve', { lookup: deriveInviteLookup(code) }), { codes: ['E_INVITE_NOT_FOUND'] }, `${ctx}: resolve`);
        await claim(code, id, name, { codes: ['E_INVITE_NOT_FOUND'] });
        return;
      }
      case 'name-taken': {
        const inv = this.shortInvite(env.owner);
        await register(env.owner, inv.record);
        await claim(inv.code, id, 'owner', { codes: ['E_NAME_TAKEN'] });
        return;
      }
      case 'by-member':
        await register(env.member, this.shortInvite(env.member).record, { codes: ['E_FORBIDDEN'] });
        return;
    }
  }

  private async runRecipe(c: RestCase, r: Recipe): Promise<void> {
    const env = this.env;
    const n = this.counter++;
    switch (r.kind) {
      case 'replay':
        return this.runReplayRecipe(c, r);
      case 'short-invite':
        return this.runShortInviteRecipe(c, r, n);
      case 'create-mesh': {
        if (r.variant === 'idempotent') {
          await this.send(
            c,
            this.json(c, 'POST', '/api/v1/meshes', env.createBody, { authorization: `Bearer ${env.adminToken}` }),
            { success: [201] },
            'replayed create of the REST mesh',
          );
          return;
        }
        const owner = env.identity(`mesh-owner-${n}`);
        const meshId = r.variant === 'conflict' ? env.meshId : randomUUID();
        const ts = Date.now() - (r.variant === 'stale' ? LIMITS.requestSkewMs + 60_000 : 0);
        const name = r.variant === 'conflict' ? `${env.meshName}-other` : r.name;
        let sig = 'A'.repeat(86);
        let signable = true;
        try {
          sig = sign(meshCreateString({ meshId, name, ownerPubkey: owner.publicKey, displayName: r.displayName, ts }), owner.secretKey);
        } catch {
          signable = false; // a name the signed-string rules refuse (line break, lone surrogate)
        }
        if (r.variant === 'bad-sig') sig = sign(`x${sig}`, owner.secretKey);
        const body = { mesh_id: meshId, name, owner_pubkey: owner.publicKey, display_name: r.displayName, ts, sig };
        const schemaOk = CreateMeshBody.safeParse(body).success && MeshName.safeParse(name).success;
        let expect: RestExpectation;
        if (r.variant === 'no-admin') expect = { codes: ['E_UNAUTHORIZED'] };
        else if (!schemaOk || !signable) expect = { codes: ['E_SCHEMA'] };
        else if (r.variant === 'bad-sig') expect = { codes: ['E_BAD_SIGNATURE'] };
        else if (r.variant === 'conflict') expect = { codes: ['E_CONFLICT'] };
        else if (r.variant === 'stale') expect = { codes: ['E_STALE_TIMESTAMP'] };
        // Postgres text cannot hold NUL: refusing such a name as a schema violation is also correct.
        else expect = name.includes('\u0000') ? { success: [201], codes: ['E_SCHEMA'] } : { success: [201] };
        const headers: Record<string, string> = r.variant === 'no-admin' ? {} : { authorization: `Bearer ${env.adminToken}` };
        await this.send(c, this.json(c, 'POST', '/api/v1/meshes', body, headers), expect, `create ${JSON.stringify(name).slice(0, 60)}`);
        return;
      }
      case 'register-invite': {
        const path = (meshId: string): string => `/api/v1/meshes/${meshId}/invites`;
        switch (r.variant) {
          case 'valid':
            await this.register(c, this.invite(env.owner, { maxUses: r.maxUses }));
            return;
          case 'idempotent': {
            const inv = this.invite(env.owner, { maxUses: r.maxUses });
            await this.register(c, inv);
            await this.register(c, inv);
            return;
          }
          case 'conflict': {
            const inv = this.invite(env.owner, { maxUses: r.maxUses });
            await this.register(c, inv);
            const other = createInvite({ meshId: env.meshId, meshName: `${env.meshName} 2`, brokerUrl: env.baseUrl, issuer: env.owner, inviteId: inv.payload.invite_id });
            await this.register(c, other, { codes: ['E_CONFLICT'] });
            return;
          }
          case 'expired':
            await this.register(c, this.invite(env.owner, { ttlMs: 1000, now: Date.now() - 3_600_000 }), { codes: ['E_INVITE_EXPIRED'] });
            return;
          case 'bad-invite-sig': {
            const inv = this.invite(env.owner);
            await this.register(c, { payload: { ...inv.payload, max_uses: inv.payload.max_uses + 1 }, sig: inv.sig }, { codes: ['E_INVITE_INVALID'] });
            return;
          }
          case 'issuer-other':
            await this.register(c, this.invite(env.member), { codes: ['E_FORBIDDEN'] });
            return;
          case 'other-mesh':
            await this.register(c, this.invite(env.owner, { meshId: randomUUID() }), { codes: ['E_SCHEMA'] });
            return;
          case 'by-member': {
            const inv = this.invite(env.member);
            await this.send(c, this.signed(env.member, 'POST', path(env.meshId), env.meshId, inv), { codes: ['E_FORBIDDEN'] }, 'register by a plain member');
            return;
          }
          case 'unknown-mesh': {
            const meshId = randomUUID();
            const inv = this.invite(env.owner, { meshId });
            await this.send(c, this.signed(env.owner, 'POST', path(meshId), meshId, inv), { codes: ['E_UNKNOWN_MESH'] }, 'register on an unknown mesh');
            return;
          }
        }
        return;
      }
      case 'join': {
        const id = env.identity(`joiner-${n}`);
        const name = `rj${n}-${r.displayName}`.slice(0, 64);
        const ctx = `join ${r.variant} as ${name}`;
        switch (r.variant) {
          case 'valid':
          case 'rejoin': {
            const inv = this.invite(env.owner);
            await this.send(c, this.joinRequest(inv, id, name, r.peerType), { success: [200] }, ctx);
            if (r.variant === 'rejoin') await this.send(c, this.joinRequest(inv, id, name, r.peerType), { success: [200] }, `${ctx} (again)`);
            return;
          }
          case 'exhausted': {
            const inv = this.invite(env.owner, { maxUses: 1 });
            await this.send(c, this.joinRequest(inv, id, name, r.peerType), { success: [200] }, ctx);
            await this.send(
              c,
              this.joinRequest(inv, env.identity(`joiner-${n}-b`), `${name}-b`.slice(0, 64), r.peerType),
              { codes: ['E_INVITE_EXHAUSTED'] },
              `${ctx} (second key)`,
            );
            return;
          }
          case 'stale':
            await this.send(c, this.joinRequest(this.invite(env.owner), id, name, r.peerType, Date.now() - LIMITS.requestSkewMs - 60_000), { codes: ['E_STALE_TIMESTAMP'] }, ctx);
            return;
          case 'bad-sig':
            await this.send(c, this.joinRequest(this.invite(env.owner), id, name, r.peerType, Date.now(), env.identity('other-key')), { codes: ['E_BAD_SIGNATURE'] }, ctx);
            return;
          case 'invite-bad-sig': {
            const inv = this.invite(env.owner);
            await this.send(c, this.joinRequest({ payload: { ...inv.payload, role: 'admin' }, sig: inv.sig }, id, name, r.peerType), { codes: ['E_INVITE_INVALID'] }, ctx);
            return;
          }
          case 'invite-expired':
            await this.send(c, this.joinRequest(this.invite(env.owner, { ttlMs: 1000, now: Date.now() - 3_600_000 }), id, name, r.peerType), { codes: ['E_INVITE_EXPIRED'] }, ctx);
            return;
          case 'unknown-mesh':
            await this.send(c, this.joinRequest(this.invite(env.owner, { meshId: randomUUID() }), id, name, r.peerType), { codes: ['E_UNKNOWN_MESH'] }, ctx);
            return;
          case 'name-taken':
            await this.send(c, this.joinRequest(this.invite(env.owner), id, 'owner', r.peerType), { codes: ['E_NAME_TAKEN'] }, ctx);
            return;
          case 'member-issuer':
            await this.send(c, this.joinRequest(this.invite(env.member), id, name, r.peerType), { codes: ['E_INVITE_INVALID'] }, ctx);
            return;
          case 'revoked-invite': {
            const inv = this.invite(env.owner, { maxUses: 5 });
            await this.register(c, inv);
            const revokePath = `/api/v1/meshes/${env.meshId}/invites/${inv.payload.invite_id}/revoke`;
            await this.send(c, this.signed(env.owner, 'POST', revokePath, env.meshId, {}), { success: [200] }, 'revoke invite');
            await this.send(c, this.joinRequest(inv, id, name, r.peerType), { codes: ['E_INVITE_REVOKED'] }, ctx);
            return;
          }
        }
      }
    }
  }
}

