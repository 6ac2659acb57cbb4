import { EpochKeyring } from '@claudemesh/core';
import { cryptoReady, generateIdentity, topicScope, type Identity } from '@claudemesh/crypto';
import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { KeyringLog } from '../src/keyring-log.js';

const MESH = '6f1f7a52-3c1e-4d7e-9f55-2f0b1c9a7e01';
const SCOPE = topicScope('general');

/**
 * A plugin's keyring log (libs/plugin/src/keyring-log.ts) with real keyrings: what a save appends is
 * the change, a log restores the keyring it was written from, a line cut short or the whole-keyring
 * file of earlier versions is taken and then written again as one line.
 */
describe('KeyringLog', () => {
  let me: Identity;
  let dir: string;
  const file = (id: string): string => join(dir, 'keyrings', `${id}.jsonl`);
  const legacyFile = (id: string): string => join(dir, 'keyrings', `${id}.json`);
  const ring = (): EpochKeyring => new EpochKeyring({ me, meshId: MESH, authorities: () => [me.publicKey] });
  /** `n` more epochs of the topic, made and accepted by this member (it holds every key). */
  const rotate = (r: EpochKeyring, n: number): void => {
    for (let i = 0; i < n; i++) {
      const next = r.rotate(SCOPE, { members: [me.publicKey], reason: r.currentEpoch(SCOPE) === 0 ? 'create' : 'scheduled' });
      r.accept(SCOPE, next);
    }
  };
  const lines = (id: string): string[] => readFileSync(file(id), 'utf8').split('\n').filter((l) => l !== '');

  beforeAll(async () => {
    await cryptoReady();
    me = generateIdentity();
  });
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cmh-keyring-log-'));
  });
  afterEach(() => {
    rmSync(dir, { recursive: true, force: true });
  });

  it('appends what changed, never the whole keyring again; a new ring loaded from the log holds the same epochs and keys', () => {
    const log = new KeyringLog({ file, legacyFile });
    const r = ring();
    expect(log.load(MESH, r)).toEqual({ lines: 0, skipped: 0, legacy: false });
    rotate(r, 50);
    log.save(MESH, r);
    log.flush();
    const first = statSync(file(MESH)).size;
    expect(lines(MESH)).toHaveLength(1);
    // Nothing new: nothing written.
    log.flush();
    expect(statSync(file(MESH)).size).toBe(first);
    rotate(r, 1);
    log.flush();
    const added = statSync(file(MESH)).size - first;
    expect(lines(MESH)).toHaveLength(2);
    expect(JSON.parse(lines(MESH)[1]!).scopes[SCOPE].chain.map((m: { manifest: { epoch: number } }) => m.manifest.epoch)).toEqual([51]);
    // One epoch's worth, a small part of what 50 took.
    expect(added * 10).toBeLessThan(first);
    expect(statSync(file(MESH)).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'keyrings')).mode & 0o777).toBe(0o700);

    const again = ring();
    expect(new KeyringLog({ file, legacyFile }).load(MESH, again)).toEqual({ lines: 2, skipped: 0, legacy: false });
    expect(again.snapshot()).toEqual(r.snapshot());
    expect(again.currentEpoch(SCOPE)).toBe(51);
  });

  it('loads the lines before one cut short by a crash, then writes the keyring again as one line', () => {
    const log = new KeyringLog({ file, legacyFile });
    const r = ring();
    log.load(MESH, r);
    rotate(r, 3);
    log.flush();
    rotate(r, 2);
    log.flush();
    const whole = lines(MESH)[1]!;
    // A crash halfway through a third append.
    appendFileSync(file(MESH), whole.slice(0, whole.length / 2));
    const again = ring();
    const next = new KeyringLog({ file, legacyFile });
    expect(next.load(MESH, again)).toEqual({ lines: 3, skipped: 1, legacy: false });
    expect(again.currentEpoch(SCOPE)).toBe(5);
    next.flush();
    expect(lines(MESH)).toHaveLength(1);
    const third = ring();
    expect(new KeyringLog({ file, legacyFile }).load(MESH, third)).toEqual({ lines: 1, skipped: 0, legacy: false });
    expect(third.snapshot()).toEqual(r.snapshot());
  });

  it('takes the whole-keyring file of earlier versions, writes it as the log and removes it', () => {
    const r = ring();
    rotate(r, 4);
    mkdirSync(join(dir, 'keyrings'), { recursive: true });
    writeFileSync(legacyFile(MESH), JSON.stringify(r.snapshot()), { mode: 0o600 });
    const again = ring();
    const log = new KeyringLog({ file, legacyFile });
    expect(log.load(MESH, again)).toEqual({ lines: 0, skipped: 0, legacy: true });
    expect(again.snapshot()).toEqual(r.snapshot());
    log.flush();
    expect(existsSync(legacyFile(MESH))).toBe(false);
    expect(lines(MESH)).toHaveLength(1);
    const third = ring();
    new KeyringLog({ file, legacyFile }).load(MESH, third);
    expect(third.snapshot()).toEqual(r.snapshot());
  });

  it('writes the log again as one line after compactAfter appends', () => {
    const log = new KeyringLog({ file, compactAfter: 3 });
    const r = ring();
    log.load(MESH, r);
    for (let i = 0; i < 3; i++) {
      rotate(r, 1);
      log.flush();
    }
    expect(lines(MESH)).toHaveLength(3);
    rotate(r, 1);
    log.flush();
    expect(lines(MESH)).toHaveLength(1);
    rotate(r, 1);
    log.flush();
    expect(lines(MESH)).toHaveLength(2);
    const again = ring();
    new KeyringLog({ file }).load(MESH, again);
    expect(again.snapshot()).toEqual(r.snapshot());
  });

  it('saves within the delay, once for changes that come meanwhile', async () => {
    const log = new KeyringLog({ file, saveDelayMs: 20 });
    const r = ring();
    log.load(MESH, r);
    rotate(r, 1);
    log.save(MESH, r);
    rotate(r, 1);
    log.save(MESH, r);
    expect(existsSync(file(MESH))).toBe(false);
    // Polls for the timer's write: a hang trips the test's timeout, no time is asserted.
    while (!existsSync(file(MESH))) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(lines(MESH)).toHaveLength(1);
    expect(JSON.parse(lines(MESH)[0]!).scopes[SCOPE].chain).toHaveLength(2);
  });
});
