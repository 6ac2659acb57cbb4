import { describe, expect, it } from 'vitest';
import { GatewayCommonConfig, encodeControl, linkCodeHash, newLinkCode, normalizeLinkCode, parseControl, splitText } from '@claudemesh/gateway';

describe('splitText', () => {
  it('leaves a short message whole', () => {
    expect(splitText('hello', 100)).toEqual(['hello']);
  });

  it('cuts at paragraph, line and word breaks, numbers the parts and keeps every word', () => {
    const text = `${'alpha beta gamma '.repeat(20)}\n\n${'delta epsilon '.repeat(30)}`;
    const parts = splitText(text, 200);
    expect(parts.length).toBeGreaterThan(2);
    parts.forEach((p, i) => {
      expect(p.length).toBeLessThanOrEqual(200);
      expect(p.startsWith(`(${i + 1}/${parts.length}) `)).toBe(true);
    });
    const words = (s: string): string[] => s.split(/\s+/).filter((w) => w && !/^\(\d+\/\d+\)$/.test(w));
    expect(parts.flatMap(words)).toEqual(words(text));
  });

  it('closes a code block at the end of a part and opens it again, with its language, in the next', () => {
    const code = Array.from({ length: 40 }, (_, i) => `const line${i} = ${i};`).join('\n');
    const parts = splitText(`Here:\n\`\`\`ts\n${code}\n\`\`\`\ndone`, 300);
    expect(parts.length).toBeGreaterThan(1);
    for (const p of parts) {
      expect(p.length).toBeLessThanOrEqual(300);
      // Every part has balanced fences: it reads as whole blocks.
      expect((p.match(/```/g) ?? []).length % 2).toBe(0);
    }
    expect(parts[1]).toMatch(/^\(2\/\d+\) ```ts\n/);
  });

  it('cuts a word longer than the limit hard', () => {
    const parts = splitText('x'.repeat(500), 100);
    expect(parts.every((p) => p.length <= 100)).toBe(true);
    expect(parts.map((p) => p.replace(/^\(\d+\/\d+\) /, '')).join('')).toBe('x'.repeat(500));
  });
});

describe('link codes and control messages', () => {
  it('makes 8-symbol codes that match however they are typed, and hashes them', () => {
    const code = newLinkCode();
    expect(code).toMatch(/^[0-9A-HJKMNP-TV-Z]{4}-[0-9A-HJKMNP-TV-Z]{4}$/);
    expect(normalizeLinkCode(` ${code.toLowerCase()} `)).toBe(code.replace('-', ''));
    expect(normalizeLinkCode('0O1I-L000')).toBe('00111000');
    expect(normalizeLinkCode('abc-12')).toBeNull();
    expect(normalizeLinkCode('ABCD-EFGU')).toBeNull();
    expect(linkCodeHash(code)).toBe(linkCodeHash(code.toLowerCase().replace('-', ' ')));
    expect(linkCodeHash(code)).not.toBe(linkCodeHash(newLinkCode()));
    expect(new Set(Array.from({ length: 200 }, newLinkCode)).size).toBe(200);
  });

  it('parses what it encodes and refuses malformed control messages with a reason', () => {
    const link = { cmgw: 1, op: 'link', code_sha256: 'a'.repeat(64), ttl_s: 900, name: 'Dana Ruiz' } as const;
    expect(parseControl(encodeControl(link))).toEqual(link);
    expect(parseControl(encodeControl({ cmgw: 1, op: 'unlink', user: '42' }))).toEqual({ cmgw: 1, op: 'unlink', user: '42' });
    expect(parseControl('hello there')).toBeNull();
    expect(() => parseControl('{"cmgw":1,"op":"link","code_sha256":"xyz","ttl_s":900}')).toThrow(/64 hex/);
    expect(() => parseControl(`{"cmgw":1,"op":"link","code_sha256":"${'a'.repeat(64)}","ttl_s":5}`)).toThrow(/ttl_s/);
    expect(() => parseControl(`{"cmgw":1,"op":"link","code_sha256":"${'a'.repeat(64)}","ttl_s":900,"name":"<script>"}`)).toThrow(/name/);
    expect(() => parseControl('{"cmgw":1,"op":"grant"}')).toThrow(/unknown control op/);
    expect(() => parseControl('{"cmgw":1,')).toThrow(/not JSON/);
  });
});

describe('the shared gateway config', () => {
  it('fills the defaults and refuses a chat mapped twice', () => {
    expect(GatewayCommonConfig.parse({ mesh: 'm' })).toEqual({ mesh: 'm', chats: [], rate: { per_minute: 20, burst: 5 }, poll_ms: 2000 });
    const twice = GatewayCommonConfig.safeParse({ mesh: 'm', chats: [{ chat: '-1', topic: 'a' }, { chat: '-1', topic: 'b' }] });
    expect(twice.success).toBe(false);
    expect(JSON.stringify(twice.error?.issues)).toContain('a chat may appear once');
    expect(GatewayCommonConfig.safeParse({ mesh: 'm', chats: [{ chat: '-1', topic: 'Not A Topic' }] }).success).toBe(false);
  });
});
