import { MeshApi, createApiKey, revokeApiKey, type ApiKeyCapability, type StoredMesh } from '@claudemesh/core';
import { cryptoReady, parseIdentity } from '@claudemesh/crypto';
import { CliError, EXIT } from '../context.js';
import { restError } from './rest-errors.js';
import { safeText } from '../terminal-text.js';

/**
 * Verbs that need the REST API (topics, members, notifications, the workspace views) do not keep a
 * bearer key on disk: each run mints one with the member key (signed request), with only the
 * capabilities and topics the verb needs and a short expiry, and revokes it when done — also when
 * interrupted. A crash leaves at most a key that expires by itself within minutes.
 */
export const DEFAULT_KEY_TTL_S = 300;
export const KEY_TTL_ENV = 'CLAUDEMESH_REST_KEY_TTL_S';
/** Labels of the keys minted here; `apikey list` hides them unless asked. */
export const EPHEMERAL_LABEL = 'claudemesh-cli:';

export function keyTtlS(env: NodeJS.ProcessEnv = process.env): number {
  const raw = env[KEY_TTL_ENV];
  if (raw === undefined || raw === '') return DEFAULT_KEY_TTL_S;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 10 || n > 86_400) throw new CliError(`${KEY_TTL_ENV} must be a whole number of seconds from 10 to 86400, got "${raw}"`, EXIT.usage);
  return n;
}

export interface RestKeySpec {
  /** The verb, for the key's label (`claudemesh-cli: topic send`). */
  verb: string;
  capabilities: ApiKeyCapability[];
  /** Limit the key to these topics. */
  topics?: string[];
  /** Ends the work early (tail's Ctrl-C); without it, SIGINT/SIGTERM are caught for the run. */
  signal?: AbortSignal;
}

export interface RestKey {
  id: string;
  api: MeshApi;
  expiresAt: number | null;
}

export async function mintRestKey(mesh: StoredMesh, spec: RestKeySpec, signal?: AbortSignal): Promise<RestKey> {
  await cryptoReady();
  try {
    const created = await createApiKey(mesh.broker_url, parseIdentity(mesh.identity), mesh.mesh_id, {
      label: `${EPHEMERAL_LABEL} ${spec.verb}`,
      capabilities: spec.capabilities,
      ...(spec.topics ? { topics: spec.topics } : {}),
      expires_in_s: keyTtlS(),
    });
    return { id: created.id, api: new MeshApi(mesh.broker_url, created.secret, signal ? { signal } : {}), expiresAt: created.expires_at };
  } catch (error) {
    throw restError(error, mesh);
  }
}

/** Revokes a minted key; a failure only warns (the key expires by itself), never hides the verb's result. */
export async function revokeRestKey(mesh: StoredMesh, id: string): Promise<boolean> {
  try {
    await revokeApiKey(mesh.broker_url, parseIdentity(mesh.identity), mesh.mesh_id, id);
    return true;
  } catch (error) {
    process.stderr.write(`claudemesh: warning: could not revoke the temporary API key ${id} (${safeText((error as Error).message)}); it expires by itself within ${keyTtlS()} s\n`);
    return false;
  }
}

export interface Interrupt {
  signal: AbortSignal;
  /** Which signal arrived, if one did. */
  readonly received: NodeJS.Signals | null;
  /** Ends the run as a signal would (e.g. stdout closed under a tail). */
  stop(reason: string): void;
  dispose(): void;
}

/** Turns the first SIGINT/SIGTERM into an abort (so `finally` blocks run); a second one exits at once. */
export function catchInterrupt(): Interrupt {
  const ac = new AbortController();
  let received: NodeJS.Signals | null = null;
  const on = (sig: NodeJS.Signals): void => {
    if (received) process.exit(sig === 'SIGINT' ? 130 : 143);
    received = sig;
    ac.abort(new Error(`interrupted by ${sig}`));
  };
  process.on('SIGINT', on);
  process.on('SIGTERM', on);
  return {
    signal: ac.signal,
    get received() {
      return received;
    },
    stop(reason: string) {
      ac.abort(new Error(reason));
    },
    dispose() {
      process.off('SIGINT', on);
      process.off('SIGTERM', on);
    },
  };
}

/**
 * Runs `work` with a freshly minted key and revokes the key afterwards, whatever happens. REST
 * failures come back as CliErrors with a `next:` hint (`hints` tailor it per code for this verb).
 */
export async function withRestKey<T>(mesh: StoredMesh, spec: RestKeySpec, work: (api: MeshApi, signal: AbortSignal) => Promise<T>, hints: Record<string, string> = {}): Promise<T> {
  const interrupt = spec.signal ? null : catchInterrupt();
  const signal = spec.signal ?? interrupt!.signal;
  try {
    const key = await mintRestKey(mesh, spec, signal);
    try {
      return await work(key.api, signal);
    } catch (error) {
      if (interrupt?.received) throw new CliError(`interrupted (${interrupt.received}); the temporary API key was revoked`, EXIT.failure);
      throw restError(error, mesh, hints);
    } finally {
      await revokeRestKey(mesh, key.id);
    }
  } finally {
    interrupt?.dispose();
  }
}
