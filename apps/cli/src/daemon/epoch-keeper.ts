import { ProtocolError, ingestEvent, publishPending, shareHistory, syncEpochs, type EpochEvent, type EpochKeyring, type EpochRotateDetails, type MeshClient, type PeerInfo, type StoredMesh } from '@claudemesh/core';
import { topicScope } from '@claudemesh/crypto';
import { keyringAuthorities, openKeyring } from '../topic-keyring.js';

/**
 * How often the daemon looks for members listed in an epoch it holds that still lack its key
 * (CLAUDEMESH_RESEAL_INTERVAL_MS, default 15 s: a joiner or a revocation is seen within that). Pushes of new epochs trigger a look at once.
 */
export function resealIntervalMs(): number {
  return Number(process.env['CLAUDEMESH_RESEAL_INTERVAL_MS']) || 15_000;
}

/**
 * The daemon's care of one mesh's keyring (docs/cli.md "End-to-end encrypted topics"): it takes
 * `epoch_new` / `epoch_seal_new` pushes into the keyring file (saved under its lock, so CLI runs find
 * the keys without fetching them), and for every scope whose current epoch it holds it seals that
 * key for the listed members the broker names as still without one (`missing` of `epoch_get`), so
 * a member waits for a key only while no other member's daemon is running. When the broker says the
 * current epoch lists the wrong members (`rotate` of `epoch_get`: a revoked member, a joiner), it
 * makes the next epoch itself. One pass at a time; a trigger during a pass runs another one after it.
 */
export class EpochKeeper {
  private running: Promise<void> | null = null;
  private again = false;
  /** A pass over every scope the keyring holds (not only the pushed ones) is due. */
  private full = false;
  private readonly events: EpochEvent[] = [];
  private readonly failing = new Map<string, string>();
  /** Scopes named by sealed topic messages, for the next pass; and all those seen, not to look twice. */
  private readonly scopes = new Set<string>();
  private readonly known = new Set<string>();

  constructor(
    private readonly mesh: StoredMesh,
    private readonly home: string,
    private readonly client: MeshClient,
    private readonly log: (line: string) => void,
  ) {}

  /** An epoch push: ingested and its scope looked at. */
  onEpoch(event: EpochEvent): void {
    this.events.push(event);
    this.kick();
  }

  /**
   * A sealed topic message arrived: its scope is looked at (and kept from then on), so a keyring
   * that never held the topic learns of it without a CLI run.
   */
  onSealedTopicMessage(topic: string): void {
    const scope = topicScope(topic);
    if (this.known.has(scope)) return;
    this.known.add(scope);
    this.scopes.add(scope);
    this.kick();
  }

  /** Looks at every scope the keyring holds (on connect and periodically). */
  sweep(): void {
    this.full = true;
    this.kick();
  }

  /** Resolves when no pass is running (tests and shutdown). */
  async idle(): Promise<void> {
    while (this.running) await this.running;
  }

  private kick(): void {
    if (!this.client.connected) return;
    if (this.running) {
      this.again = true;
      return;
    }
    this.running = this.run()
      .catch((error: unknown) => this.log(`${this.mesh.mesh_name}: key re-sealing failed: ${(error as Error).message}`))
      .finally(() => {
        this.running = null;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }

  private async run(): Promise<void> {
    const events = this.events.splice(0);
    const named = [...this.scopes];
    this.scopes.clear();
    const full = this.full;
    this.full = false;
    try {
      await this.pass(events, named, full);
    } catch (error) {
      // Nothing of it is lost: the next trigger (at the latest the next sweep) takes it again.
      this.events.unshift(...events);
      for (const scope of named) this.scopes.add(scope);
      throw error;
    }
  }

  private async pass(events: readonly EpochEvent[], named: readonly string[], full: boolean): Promise<void> {
    const peers = await this.client.listPeers();
    const stored = openKeyring(this.home, this.mesh, keyringAuthorities(peers));
    // Members this client itself knows hold keys: a joiner the broker names is added only if listed here too.
    const keyed = keyedOf(peers);
    const { ring } = stored;
    const scopes = new Set<string>(full ? Object.keys(ring.snapshot().scopes) : []);
    for (const scope of named) scopes.add(scope);
    for (const e of events) {
      scopes.add(e.scope);
      ingestEvent(ring, e);
    }
    if (scopes.size === 0) return;
    for (const scope of scopes) {
      try {
        const synced = await syncEpochs(this.client, ring, scope);
        const epoch = ring.currentEpoch(scope);
        if (epoch > 0 && ring.context(scope, epoch) !== null && synced.rotate) {
          await this.rotate(ring, scope, epoch, synced.rotate, keyed);
        } else if (epoch > 0 && ring.context(scope, epoch) !== null && synced.missing.length > 0) {
          const seals = ring.resealFor(scope, epoch, synced.missing);
          if (seals.length > 0) {
            await this.client.addSeals(scope, epoch, seals);
            this.log(`${this.mesh.mesh_name}: sealed the key of ${scope} epoch ${epoch} for ${seals.length} member${seals.length === 1 ? '' : 's'} without it`);
          }
        }
        this.failing.delete(scope);
      } catch (error) {
        // A topic deleted or left: said once, not at every sweep.
        const why = (error as Error).message;
        if (this.failing.get(scope) !== why) this.log(`${this.mesh.mesh_name}: ${scope}: ${why}`);
        this.failing.set(scope, why);
      }
    }
    stored.save();
  }

  /**
   * The current epoch lists the wrong members (a revoked or departed member, a joiner): make the next
   * one now rather than leave it to the next sender (docs/protocol.md §5.6), so a joiner gets the
   * key without anyone posting. One attempt: if another member rotated first, its epoch is synced
   * and nothing more is done (the next sweep looks again). A joiner is listed only once this
   * client's own peer list has it: the list read at the start of the pass may predate the join the
   * broker now names, so it is read again first. A rotation that would list the same members
   * (every joiner still unknown here, nobody leaving) is not made: it would add nobody, and the
   * broker would ask for yet another one.
   */
  private async rotate(ring: EpochKeyring, scope: string, epoch: number, why: EpochRotateDetails, known: ReadonlySet<string>): Promise<void> {
    let keyed = known;
    if (why.joined.some((k) => !keyed.has(k))) keyed = keyedOf(await this.client.listPeers());
    const departed = new Set(why.departed);
    const current = ring.currentManifest(scope)!.members;
    const listed = current.filter((k) => !departed.has(k) && keyed.has(k));
    const joiners = why.joined.filter((k) => keyed.has(k) && !listed.includes(k));
    const members = [...new Set([...listed, ...joiners])];
    const dropped = current.length - listed.length;
    if (why.reason !== 'scheduled' && joiners.length === 0 && dropped === 0) {
      // Said once per scope (as a pass's other failures), looked at again at the next sweep.
      throw new Error(`not rotated yet: the ${why.joined.length} joiner(s) the broker names are not in this member's peer list`);
    }
    const pending = ring.rotate(scope, { members, reason: why.reason });
    try {
      await publishPending(this.client, pending.signed, pending.seals);
    } catch (error) {
      if (!(error instanceof ProtocolError && error.code === 'E_EPOCH_CONFLICT')) throw error;
      await syncEpochs(this.client, ring, scope);
      return;
    }
    ring.accept(scope, pending);
    const change = [dropped ? `${dropped} left` : '', joiners.length ? `${joiners.length} joined` : ''].filter(Boolean).join(', ');
    this.log(`${this.mesh.mesh_name}: rotated the key of ${scope} to epoch ${epoch + 1} (${why.reason}: ${change || 'scheduled'})`);
    if (why.share_history) {
      // The topic shares its history: the joiners get the earlier epochs this keyring holds.
      try {
        const sent = await shareHistory(this.client, ring, scope, epoch + 1, joiners);
        if (sent > 0) this.log(`${this.mesh.mesh_name}: shared ${sent} earlier key(s) of ${scope} with ${joiners.length} joiner(s)`);
      } catch (error) {
        this.log(`${this.mesh.mesh_name}: could not share the history of ${scope}: ${(error as Error).message}`);
      }
    }
  }
}

/** The members of a peer list that hold a keypair (REST-only members never hold epoch keys). */
function keyedOf(peers: readonly PeerInfo[]): Set<string> {
  return new Set(peers.filter((p) => p.rest_only !== true).map((p) => p.member_pubkey));
}
