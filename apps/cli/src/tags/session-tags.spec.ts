import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { addTags } from './edit.js';
import { SessionTags, tagView } from './session-tags.js';
import { updateMeshTags } from './tag-file.js';

const MESH = '0f0e0d0c-0b0a-4908-8706-050403020100';

/** A client that records each set it is handed; `fail` makes the next one reject. */
function recorder() {
  const sets: string[][] = [];
  let fail = false;
  return {
    sets,
    failNext: () => (fail = true),
    setTags: async (tags: readonly string[]) => {
      sets.push([...tags]);
      if (fail) {
        fail = false;
        throw new Error('connection closed');
      }
    },
  };
}

describe('SessionTags (real tags.json, a recording client)', () => {
  const root = mkdtempSync(join(tmpdir(), 'cmh-session-tags-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  const logs: string[] = [];

  it('sends a set once, again only when tags.json changes, and after a failed send', async () => {
    const home = join(root, 'home-a');
    mkdirSync(home);
    const client = recorder();
    const tags = new SessionTags(home, MESH, client, null, (l) => logs.push(l), {});
    await tags.apply();
    expect(client.sets).toEqual([]); // nothing kept: a new session has none already

    addTags(home, MESH, ['role:reviewer']);
    tags.poll();
    expect(client.sets).toEqual([['role:reviewer']]);
    tags.poll();
    await tags.apply();
    expect(client.sets).toHaveLength(1);

    client.failNext();
    addTags(home, MESH, ['lang:go']);
    await expect(tags.apply()).rejects.toThrow('connection closed');
    expect(logs.at(-1)).toMatch(/tags not advertised \(role:reviewer, lang:go\): connection closed/);
    expect(tags.current).toEqual([]);
    await tags.apply();
    expect(client.sets.at(-1)).toEqual(['role:reviewer', 'lang:go']);
    expect(tags.current).toEqual(['role:reviewer', 'lang:go']);
  });

  it('adds repo:<name> from its workspace after the kept tags, unless turned off, and never beyond 32', async () => {
    const home = join(root, 'home-b');
    const ws = join(root, 'ws');
    mkdirSync(home);
    mkdirSync(join(ws, '.git'), { recursive: true });
    writeFileSync(join(ws, '.git', 'config'), '[remote "origin"]\n\turl = git@github.com:acme/Billing.git\n');
    addTags(home, MESH, ['role:reviewer']);
    const client = recorder();
    const tags = new SessionTags(home, MESH, client, ws, () => undefined, {});
    await tags.apply();
    expect(client.sets).toEqual([['role:reviewer', 'repo:billing']]);
    expect(tagView(home, MESH, ws, {})).toEqual({ tags: [{ tag: 'role:reviewer', derived: false }, { tag: 'repo:billing', derived: true, from: ws }], repo_tag: true });
    // The environment turns it off for this process; the setting for the mesh.
    expect(tagView(home, MESH, ws, { CLAUDEMESH_REPO_TAG: 'off' })).toEqual({ tags: [{ tag: 'role:reviewer', derived: false }], repo_tag: false });
    updateMeshTags(home, MESH, (cur) => ({ ...cur, repo_tag: false }));
    await tags.apply();
    expect(client.sets.at(-1)).toEqual(['role:reviewer']);
    // A kept tag equal to the derived one is shown once, as kept.
    updateMeshTags(home, MESH, () => ({ tags: ['repo:billing'], repo_tag: true }));
    expect(tagView(home, MESH, ws, {}).tags).toEqual([{ tag: 'repo:billing', derived: false }]);
    // 32 kept tags leave no room: the derived one is not sent.
    updateMeshTags(home, MESH, () => ({ tags: Array.from({ length: 32 }, (_, i) => `t${i}`), repo_tag: true }));
    await tags.apply();
    expect(client.sets.at(-1)).toHaveLength(32);
    expect(client.sets.at(-1)).not.toContain('repo:billing');
  });
});
