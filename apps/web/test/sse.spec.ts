import { describe, expect, it } from 'vitest';
import { SseParser } from '../src/sse.js';

describe('event-stream parser', () => {
  it('parses id, event and multi-line data, skipping comments, across chunk borders', () => {
    const p = new SseParser();
    const events = [...p.feed(': heartbeat\n\nid: 5\nevent: mess'), ...p.feed('age\ndata: {"a":\ndata: 1}\n\r'), ...p.feed('\nevent: message\ndata: late\n\n')];
    expect(events).toEqual([
      { id: '5', event: 'message', data: '{"a":\n1}' },
      { id: null, event: 'message', data: 'late' },
    ]);
  });

  it('takes CRLF and CR line endings and a field without a space', () => {
    const p = new SseParser();
    expect(p.feed('id:7\r\nevent:error\r\ndata:{"code":"E_UNAUTHORIZED"}\r\n\r\n')).toEqual([{ id: '7', event: 'error', data: '{"code":"E_UNAUTHORIZED"}' }]);
    expect(p.feed('data: x\r\rdata: y\n\n')).toEqual([
      { id: null, event: 'message', data: 'x' },
      { id: null, event: 'message', data: 'y' },
    ]);
  });
});
