import { createECDH } from 'node:crypto';
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';

/** The broker's VAPID identity (RFC 8292): base64url keys and the contact the push services see. */
export interface VapidKeys {
  /** The uncompressed P-256 point (65 bytes), what browsers take as `applicationServerKey`. */
  publicKey: string;
  /** The 32-byte private scalar. */
  privateKey: string;
}

const b64u = (b: Buffer): string => b.toString('base64url');

/** A fresh P-256 pair (the private scalar left-padded to 32 bytes). */
export function generateVapidKeys(): VapidKeys {
  const ecdh = createECDH('prime256v1');
  ecdh.generateKeys();
  const priv = ecdh.getPrivateKey();
  return { publicKey: b64u(ecdh.getPublicKey()), privateKey: b64u(Buffer.concat([Buffer.alloc(32 - priv.length), priv])) };
}

/** Throws unless the pair is a P-256 private key and its own public key. */
export function checkVapidKeys(keys: VapidKeys, where: string): VapidKeys {
  const pub = Buffer.from(keys.publicKey, 'base64url');
  const priv = Buffer.from(keys.privateKey, 'base64url');
  if (pub.length !== 65 || pub[0] !== 4 || priv.length !== 32) throw new Error(`${where}: expected a 65-byte uncompressed P-256 public key and a 32-byte private key (base64url)`);
  const ecdh = createECDH('prime256v1');
  try {
    ecdh.setPrivateKey(priv);
  } catch {
    throw new Error(`${where}: the VAPID private key is not a P-256 private key`);
  }
  if (!ecdh.getPublicKey().equals(pub)) throw new Error(`${where}: the VAPID public key is not the private key's`);
  return keys;
}

/**
 * The keys from the environment when set; else the pair kept in DATA_DIR/vapid.json (0600),
 * generated on the first start. The same pair must stay: browsers' subscriptions are bound to it.
 */
export function ensureVapidKeys(dataDir: string, fromEnv: { publicKey: string | undefined; privateKey: string | undefined }): VapidKeys {
  if (fromEnv.publicKey && fromEnv.privateKey) return checkVapidKeys({ publicKey: fromEnv.publicKey, privateKey: fromEnv.privateKey }, 'CLAUDEMESH_VAPID_PUBLIC_KEY/CLAUDEMESH_VAPID_PRIVATE_KEY');
  const file = join(dataDir, 'vapid.json');
  const read = (): VapidKeys | null => {
    let text: string;
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      return null;
    }
    const parsed = JSON.parse(text) as Partial<Record<'public_key' | 'private_key', unknown>>;
    if (typeof parsed.public_key !== 'string' || typeof parsed.private_key !== 'string') throw new Error(`${file}: expected { "public_key", "private_key" }`);
    return checkVapidKeys({ publicKey: parsed.public_key, privateKey: parsed.private_key }, file);
  };
  const kept = read();
  if (kept) return kept;
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const keys = generateVapidKeys();
  try {
    writeFileSync(file, `${JSON.stringify({ public_key: keys.publicKey, private_key: keys.privateKey }, null, 2)}\n`, { mode: 0o600, flag: 'wx' });
  } catch (error) {
    // Another process on this data directory wrote it first: its pair is the one.
    if ((error as NodeJS.ErrnoException).code === 'EEXIST') {
      const theirs = read();
      if (theirs) return theirs;
    }
    throw error;
  }
  chmodSync(file, 0o600);
  return keys;
}

/** CLAUDEMESH_VAPID_SUBJECT, else an https PUBLIC_URL (not localhost: Apple refuses it), else mailto:admin@<host>. */
export function vapidSubjectOf(subject: string | undefined, publicUrl: string | undefined, host: string): string {
  if (subject) return subject;
  if (publicUrl) {
    const u = new URL(publicUrl);
    if (u.protocol === 'https:' && !/^(localhost|127\.|\[::1\])/.test(u.hostname)) return u.origin;
    return `mailto:admin@${u.hostname}`;
  }
  return `mailto:admin@${host === '0.0.0.0' || host === '::' ? 'localhost' : host}`;
}
