import { MeshClient, createMesh, issueInvite, joinMesh, type InboundMessage, type MeshClientOptions } from '@claudemesh/core';
import { cryptoReady, generateIdentity, generateMeshKey, type Identity } from '@claudemesh/crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadBrokerConfig } from '../../apps/broker/src/config/broker.config.js';
import { MIGRATIONS_DIR, startBroker, type RunningBroker } from '../../apps/broker/src/server.js';
import { createTestDatabase } from './db.js';

export type DbKind = 'embedded' | 'postgres';

export interface TestBroker {
  broker: RunningBroker;
  kind: DbKind;
  url: string;
  wsUrl: string;
  adminToken: string;
  dataDir: string;
  databaseUrl: string | undefined;
  close(): Promise<void>;
}

export const ADMIN_TOKEN = 'test-admin-token-0123456789';

/**
 * Every test client comes from 127.0.0.1 and many suites fail on purpose (wrong codes, bad tokens,
 * searches in a loop): the per-address and per-key budgets are out of their way unless a suite
 * sets them (apps/broker/test/public-route-limits.spec.ts, search-cost.spec.ts do).
 */
export const GENEROUS_TEST_LIMITS: Readonly<Record<string, string>> = {
  CLAUDEMESH_PUBLIC_ATTEMPTS_BURST: '1000000',
  CLAUDEMESH_SEARCH_BURST: '1000000',
};

/** A real broker on an ephemeral port, on a fresh embedded data dir or a fresh Postgres database. */
export async function startTestBroker(kind: DbKind, env: Record<string, string> = {}): Promise<TestBroker> {
  await cryptoReady();
  const home = mkdtempSync(join(tmpdir(), 'cmh-test-'));
  const pg = kind === 'postgres' ? await createTestDatabase() : null;
  const config = loadBrokerConfig(
    {
      PORT: '0',
      HOST: '127.0.0.1',
      CLAUDEMESH_HOME: home,
      LOG_LEVEL: 'error',
      // A test's database holds little: a small buffer pool starts PGlite about 0.7 s sooner.
      CLAUDEMESH_EMBEDDED_SHARED_BUFFERS: '16MB',
      ADMIN_TOKEN,
      BOOTSTRAP_MESH: 'off',
      ...GENEROUS_TEST_LIMITS,
      ...(pg ? { DATABASE_URL: pg.url } : {}),
      ...env,
    },
    MIGRATIONS_DIR,
  );
  let broker: RunningBroker;
  try {
    broker = await startBroker(config);
  } catch (error) {
    await pg?.drop();
    rmSync(home, { recursive: true, force: true });
    throw error;
  }
  return {
    broker,
    kind,
    url: broker.url,
    wsUrl: broker.wsUrl,
    adminToken: ADMIN_TOKEN,
    dataDir: config.dataDir,
    databaseUrl: pg?.url,
    async close() {
      await broker.close();
      await pg?.drop();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

export interface TestMesh {
  meshId: string;
  name: string;
  meshKey: Uint8Array;
  owner: Identity;
}

/**
 * A mesh made through the real REST call. Its #general is plaintext unless `general: 'e2e'` (the
 * product's default): most suites use #general to exercise what plaintext topics do (text over
 * REST, search, mentions by name), so the helper asks for it as an integration would. Suites about
 * e2e topics make their own or ask for an e2e #general.
 */
export async function createTestMesh(tb: TestBroker, name = 'test-mesh', o: { general?: 'e2e' | 'plaintext' } = {}): Promise<TestMesh> {
  const owner = generateIdentity();
  const created = await createMesh(tb.url, { name, owner, displayName: 'owner', adminToken: tb.adminToken, general: o.general ?? 'plaintext' });
  return { meshId: created.mesh_id, name, meshKey: generateMeshKey(), owner };
}

/** Enrolls a new member through a real invite and join. */
export async function addMember(tb: TestBroker, mesh: TestMesh, displayName: string, role: 'member' | 'admin' = 'member'): Promise<Identity> {
  const identity = generateIdentity();
  const { invite } = await issueInvite(tb.url, { meshId: mesh.meshId, meshName: mesh.name, brokerUrl: tb.url, issuer: mesh.owner, role });
  await joinMesh(tb.url, { invite, identity, displayName });
  return identity;
}

/**
 * A connected SDK client. Pass `inbox` to collect messages from the very first push: the drain of
 * the offline queue starts right after hello_ack, before `connect()`'s caller resumes.
 */
export async function connectClient(
  tb: TestBroker,
  mesh: TestMesh,
  identity: Identity,
  opts: Partial<MeshClientOptions> = {},
  inbox?: InboundMessage[],
): Promise<MeshClient> {
  const client = new MeshClient({ url: tb.wsUrl, meshId: mesh.meshId, identity, meshKey: mesh.meshKey, backoff: { initialMs: 20, maxMs: 200 }, ...opts });
  if (inbox) client.on('message', (m) => inbox.push(m));
  await client.connect();
  return client;
}

/** Resolves when `predicate` holds, polling; rejects with `what` after the timeout. */
/**
 * How long a wait may take before a test calls it a hang. Generous on purpose: the suite runs on
 * loaded 2-core machines, and a passing test never waits this long.
 */
export const HANG_MS = 60_000;

export async function waitFor(predicate: () => boolean, what: string, timeoutMs = HANG_MS): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}
