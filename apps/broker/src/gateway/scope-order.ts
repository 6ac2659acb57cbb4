import { ProtocolError } from '@claudemesh/core';

/** A publish the scope's later sends wait for. */
interface PendingPublish {
  epoch: number;
  settled: Promise<void>;
}

/** Scopes whose last refused publish a connection remembers, at most (the oldest is forgotten first). */
export const MAX_REFUSED_SCOPES = 64;

interface ScopeQueue {
  /** Sealed sends of the scope being handled (held ones included). */
  sends: Set<Promise<unknown>>;
  /** The last publish received, until it settles. */
  publish: PendingPublish | null;
}

/**
 * One connection's order of sealed sends and epoch publishes per key-epoch scope (docs/protocol.md
 * §5.6 "Publish order"): an `epoch_publish` waits for the sealed sends of its scope received before
 * it, and those received after it wait for it. So a client may seal under the epoch it is
 * publishing as soon as the publish is on its way, without a round trip: its earlier posts are
 * stored under the old epoch, its later ones find the new epoch current. A send held behind a
 * publish that was refused, and sealed under the epoch it proposed, is handled as any send, but
 * where its check refuses it as invalid (signed over the proposal's manifest, not the current
 * epoch's) it is answered E_EPOCH_STALE instead: the client seals it again. So is a send under that
 * epoch that arrives after the refusal went out (the client sealed it before reading the refusal):
 * the connection remembers its last refused publish per scope until one of the scope is accepted.
 * Its other answers (a plaintext topic, a forbidden target, an epoch that does not exist) are its own. Frames of other scopes, and of
 * other connections, are not ordered by it. Costs nothing while no publish is pending: a send then
 * starts at once, as without it. Held frames count in the connection's in-flight bound.
 */
export class ScopeOrder {
  private readonly scopes = new Map<string, ScopeQueue>();
  /** Per scope, the last publish of this connection that was refused (until one is accepted). */
  private readonly refused = new Map<string, { epoch: number; current: number }>();

  /** Runs a sealed send of `scope` under `epoch` once the publish received before it (if any) settled. */
  send<T>(scope: string, epoch: number, run: () => Promise<T>): Promise<T> {
    const q = this.queue(scope);
    const before = q.publish;
    const p = before === null ? this.checked(scope, epoch, run) : before.settled.then(() => this.checked(scope, epoch, run));
    this.track(scope, q, p);
    return p;
  }

  /**
   * Runs a send; when its epoch is that of the scope's last refused publish of this connection, an
   * E_MESSAGE_INVALID is the lost race's (sealed under the refused proposal, checked against the
   * epoch that is current instead: another member's N+1, signed over another manifest), not a bad
   * message, and is answered E_EPOCH_STALE.
   */
  private checked<T>(scope: string, epoch: number, run: () => Promise<T>): Promise<T> {
    const lost = this.refused.get(scope);
    if (lost?.epoch !== epoch) return run();
    return run().catch((error: unknown) => {
      if (error instanceof ProtocolError && error.code === 'E_MESSAGE_INVALID') {
        throw new ProtocolError('E_EPOCH_STALE', `epoch ${epoch} of ${scope} was not accepted: sync it, encrypt again and resend`, { current_epoch: lost.current });
      }
      throw error;
    });
  }

  /** Runs an `epoch_publish` of `scope` proposing `epoch` once the sealed sends of the scope received before it settled. */
  publish<T>(scope: string, epoch: number, run: () => Promise<T>): Promise<T> {
    const q = this.queue(scope);
    const earlier = [...q.sends];
    if (q.publish) earlier.push(q.publish.settled);
    let settle!: () => void;
    const pending: PendingPublish = { epoch, settled: new Promise<void>((resolve) => (settle = resolve)) };
    q.publish = pending;
    // A publish that threw before returning its promise must still settle, or the sends behind it would wait for ever.
    const start = (): Promise<T> => {
      try {
        return run();
      } catch (error) {
        return Promise.reject(error);
      }
    };
    const p = (earlier.length === 0 ? start() : Promise.allSettled(earlier).then(start)).then(
      (value) => {
        this.refused.delete(scope);
        return value;
      },
      (error: unknown) => {
        // The scope's current epoch as the refusal named it, or else the one before the proposed.
        const current = error instanceof ProtocolError ? error.details.current_epoch : undefined;
        this.refused.delete(scope);
        this.refused.set(scope, { epoch, current: typeof current === 'number' ? current : epoch - 1 });
        if (this.refused.size > MAX_REFUSED_SCOPES) this.refused.delete(this.refused.keys().next().value!);
        throw error;
      },
    );
    void p.then(settle, settle).finally(() => {
      if (q.publish === pending) q.publish = null;
      this.prune(scope, q);
    });
    return p;
  }

  /** Scopes with frames being ordered (for tests). */
  get size(): number {
    return this.scopes.size;
  }

  private queue(scope: string): ScopeQueue {
    let q = this.scopes.get(scope);
    if (!q) this.scopes.set(scope, (q = { sends: new Set(), publish: null }));
    return q;
  }

  private track(scope: string, q: ScopeQueue, p: Promise<unknown>): void {
    q.sends.add(p);
    const done = (): void => {
      q.sends.delete(p);
      this.prune(scope, q);
    };
    p.then(done, done);
  }

  private prune(scope: string, q: ScopeQueue): void {
    if (q.sends.size === 0 && q.publish === null && this.scopes.get(scope) === q) this.scopes.delete(scope);
  }
}

/** Per connection (its session object), kept as long as it is: a few entries while its frames are in flight. */
const orders = new WeakMap<object, ScopeOrder>();

/** The order of sealed sends and epoch publishes of one connection, by its session. */
export function scopeOrderOf(session: object): ScopeOrder {
  let order = orders.get(session);
  if (!order) orders.set(session, (order = new ScopeOrder()));
  return order;
}
