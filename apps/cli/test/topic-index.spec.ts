import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { LocalStore } from '../src/store/local-store.js';
import { toFtsQuery, type IndexedTopicMessage } from '../src/store/topic-index.js';

/** The local search index of decrypted topic messages, on a real local.db (better-sqlite3's FTS5). */
describe('the local topic index', () => {
  const home = mkdtempSync(join(tmpdir(), 'cmh-index-'));
  const store = LocalStore.open(home);
  const index = store.topicIndex();
  let n = 0;
  const add = (topic: string, text: string, over: Partial<IndexedTopicMessage> = {}) =>
    index.add({ mesh_id: 'm1', topic, message_id: String(++n), sender_name: 'alice', sender_member: 'a'.repeat(64), epoch: 1, created_at: 1_000 + n, text, ...over });

  afterAll(() => {
    store.close();
    rmSync(home, { recursive: true, force: true });
  });

  it('turns the broker’s query syntax into quoted FTS5 terms that no input can escape', () => {
    expect(toFtsQuery('deploy staging')).toBe('("deploy" AND "staging")');
    expect(toFtsQuery('"rolled back" -prod')).toBe('(("rolled back") NOT ("prod"))');
    expect(toFtsQuery('deploy or rollback -"dry run"')).toBe('("deploy") OR (("rollback") NOT ("dry run"))');
    // A token with punctuation inside is the phrase of its words, as FTS5 tokenises the text itself.
    expect(toFtsQuery('NEAR(a b) AND ^x* "unterminated')).toBe('("NEAR a" AND "b" AND "AND" AND "x" AND "unterminated")');
    expect(toFtsQuery('-only -exclusions')).toBeNull();
    expect(toFtsQuery(' ... *** ')).toBeNull();
  });

  it('finds words and phrases, excludes, ranks and snippets; accents and case do not matter', () => {
    add('ops', 'Deploy of the API to staging went fine');
    add('ops', 'deploy to prod rolled back after the error spike');
    add('ops', 'Café menu for Friday');
    add('design', 'the deploy button should be green');
    expect(index.search('deploy', { meshId: 'm1' }).map((h) => h.text)).toHaveLength(3);
    expect(index.search('deploy -prod', { meshId: 'm1', topic: 'ops' }).map((h) => h.text)).toEqual(['Deploy of the API to staging went fine']);
    expect(index.search('"rolled back"', { meshId: 'm1' })[0]).toMatchObject({ topic: 'ops', sender_name: 'alice', epoch: 1 });
    expect(index.search('"back rolled"', { meshId: 'm1' })).toEqual([]);
    expect(index.search('cafe', { meshId: 'm1' }).map((h) => h.snippet)).toEqual(['[Café] menu for Friday']);
    expect(index.search('button or spike', { meshId: 'm1' }).map((h) => h.topic).sort()).toEqual(['design', 'ops']);
    expect(index.search('deploy', { meshId: 'another' })).toEqual([]);
    expect(index.search('NEAR(deploy', { meshId: 'm1' }).length).toBe(0);
  });

  it('indexes a message once, and forgets a topic or a whole mesh', () => {
    expect(add('ops', 'once only', { message_id: 'fixed' })).toBe(true);
    expect(add('ops', 'once only', { message_id: 'fixed' })).toBe(false);
    expect(index.search('once', { meshId: 'm1' })).toHaveLength(1);
    expect(index.forget('m1', 'design')).toBe(1);
    expect(index.search('button', { meshId: 'm1' })).toEqual([]);
    expect(index.forget('m1')).toBeGreaterThan(0);
    expect(index.search('deploy', { meshId: 'm1' })).toEqual([]);
  });
});
