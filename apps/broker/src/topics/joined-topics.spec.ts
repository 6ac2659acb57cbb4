import { describe, expect, it } from 'vitest';
import { JoinedTopics, MAX_JOINED_TOPICS } from './joined-topics.js';
import type { ResolvedTopic } from './topics.service.js';

const topic = (id: string, name: string, joined = true): ResolvedTopic =>
  ({ id, mesh_id: 'm', name, visibility: 'private', description: '', encryption: 'e2e', history: 'from_join', created_at: new Date(0), joined }) as unknown as ResolvedTopic;

describe('JoinedTopics (a connection\'s topics its member joined)', () => {
  it('keeps joined topics only, forgets one by id, and keeps no more than its bound', () => {
    const joined = new JoinedTopics();
    joined.remember(topic('1', 'ops'));
    joined.remember(topic('2', 'vault', false));
    expect(joined.get('ops')?.id).toBe('1');
    expect(joined.get('vault')).toBeUndefined();
    joined.forget('1');
    expect(joined.get('ops')).toBeUndefined();
    for (let i = 0; i < MAX_JOINED_TOPICS + 10; i++) joined.remember(topic(String(100 + i), `t${i}`));
    expect(joined.size).toBe(MAX_JOINED_TOPICS);
    expect(joined.get(`t${MAX_JOINED_TOPICS}`)).toBeUndefined();
    // A kept topic is replaced in place even at the bound.
    joined.remember(topic('100', 't0'));
    expect(joined.get('t0')?.id).toBe('100');
  });
});
