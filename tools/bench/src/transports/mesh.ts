import { MeshClient, createMesh, issueInvite, joinMesh } from '@claudemesh/core';
import { generateIdentity, generateMeshKey, type Identity } from '@claudemesh/crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BrokerProcess, freePort } from '../broker-process.js';
import type { BenchPeer, BenchSystem } from './transport.js';

const ADMIN_TOKEN = 'bench-admin-token-0123456789';

class MeshPeer implements BenchPeer {
  constructor(
    readonly index: number,
    private readonly client: MeshClient,
    private readonly memberKeys: string[],
  ) {}

  async send(to: number | `@${string}`, text: string): Promise<void> {
    await this.client.send(typeof to === 'number' ? this.memberKeys[to]! : to, text);
  }

  joinGroup(group: string): Promise<void> {
    return this.client.joinGroup(group);
  }

  onMessage(handler: (text: string) => void): void {
    this.client.on('message', (m) => handler(m.text));
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/** A WebSocket member that publishes to and receives a topic (`@…` targets all mean the topic). */
class TopicPeer implements BenchPeer {
  constructor(
    readonly index: number,
    private readonly client: MeshClient,
    private readonly topic: string,
  ) {}

  async send(_to: number | `@${string}`, text: string): Promise<void> {
    await this.client.topicSend(this.topic, text);
  }

  /** Every member is in #general already; other topics are not used by the bench. */
  async joinGroup(): Promise<void> {}

  onMessage(handler: (text: string) => void): void {
    this.client.on('topic', (m) => handler(m.text ?? ''));
  }

  close(): Promise<void> {
    return this.client.close();
  }
}

/** The real broker (built, own process) driven through the real SDK with real crypto. */
export class MeshSystem implements BenchSystem {
  readonly name = 'mesh' as const;
  private broker: BrokerProcess | null = null;
  private home = '';
  url = '';

  constructor(
    private readonly databaseUrl: string | undefined,
    private readonly nodeArgs: string[] = [],
    /** More broker environment (e.g. CLAUDEMESH_METRICS=off). */
    private readonly env: Record<string, string> = {},
  ) {}

  readonly adminToken = ADMIN_TOKEN;

  get serverPid(): number | undefined {
    return this.broker?.pid;
  }

  get db(): 'postgres' | 'embedded' {
    return this.databaseUrl ? 'postgres' : 'embedded';
  }

  async start(): Promise<void> {
    this.home = mkdtempSync(join(tmpdir(), 'cmh-bench-'));
    const port = await freePort();
    this.url = `http://127.0.0.1:${port}`;
    this.broker = new BrokerProcess(
      {
        PORT: String(port),
        HOST: '127.0.0.1',
        CLAUDEMESH_HOME: this.home,
        ADMIN_TOKEN,
        BOOTSTRAP_MESH: 'off',
        LOG_LEVEL: 'error',
        ...(this.databaseUrl ? { DATABASE_URL: this.databaseUrl } : {}),
        ...this.env,
      },
      this.nodeArgs,
    );
    await this.broker.start(60_000);
  }

  /** One mesh per call; `count` peers spread over members with `sessionsPerMember` sessions each. */
  async connect(count: number, opts: { sessionsPerMember?: number; topic?: string } = {}): Promise<BenchPeer[]> {
    const perMember = opts.sessionsPerMember ?? 1;
    const memberCount = Math.ceil(count / perMember);
    const owner = generateIdentity();
    const mesh = await createMesh(this.url, { name: 'bench', owner, displayName: 'owner', adminToken: ADMIN_TOKEN, general: 'plaintext' });
    const meshKey = generateMeshKey();
    const { invite } = await issueInvite(this.url, { meshId: mesh.mesh_id, meshName: 'bench', brokerUrl: this.url, issuer: owner, maxUses: memberCount });
    const members: Identity[] = [];
    for (let i = 0; i < memberCount; i++) {
      const identity = generateIdentity();
      await joinMesh(this.url, { invite, identity, displayName: `peer-${i}` });
      members.push(identity);
    }
    const memberKeys = members.map((m) => m.publicKey);
    const wsUrl = `${this.url.replace(/^http/, 'ws')}/ws`;
    const peers: BenchPeer[] = new Array(count);
    const concurrency = 64;
    let next = 0;
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (next < count) {
          const i = next++;
          const client = new MeshClient({ url: wsUrl, meshId: mesh.mesh_id, identity: members[Math.floor(i / perMember)]!, meshKey, resendAfterMs: 60_000 });
          await client.connect();
          peers[i] = opts.topic ? new TopicPeer(i, client, opts.topic) : new MeshPeer(i, client, memberKeys);
          if (perMember === 1) client.prepareKeys(memberKeys);
        }
      }),
    );
    return peers;
  }

  async stop(): Promise<void> {
    await this.broker?.kill('SIGTERM');
    if (this.home) rmSync(this.home, { recursive: true, force: true });
  }
}
