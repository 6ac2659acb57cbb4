import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { isTerminalSafe, safeLine, safeText } from './terminal-text.js';

/** What a hostile peer puts in a summary: retitle, clear, move the cursor, draw in colour, ring. */
const ATTACK = '\x1b]0;pwned\x07\x1b[2J\x1b[H\x1b[32mbob ✓ verified\x1b[0m\x9b31m\x07';

describe('the terminal sanitiser', () => {
  it('replaces ESC, BEL and the C1 CSI by visible stand-ins, so no sequence reaches the terminal', () => {
    expect(safeLine(ATTACK)).toBe('␛]0;pwned␇␛[2J␛[H␛[32mbob ✓ verified␛[0m\\u009b31m␇');
    expect(isTerminalSafe(safeLine(ATTACK))).toBe(true);
    expect(isTerminalSafe(ATTACK)).toBe(false);
  });

  it('makes newlines, tabs and carriage returns visible in a one-line field', () => {
    expect(safeLine('alice\nbob ✓\tx\ry')).toBe('alice␊bob ✓␉x␍y');
  });

  it('keeps newlines and tabs in message text, turns CRLF into a newline and shows a lone CR', () => {
    expect(safeText('line one\r\nline\ttwo\rover')).toBe('line one\nline\ttwo␍over');
  });

  it('shows DEL, NUL and the Unicode line and paragraph separators', () => {
    expect(safeText('a\x7fb\x00c\u2028d\u2029e')).toBe('a␡b␀c\\u2028d\\u2029e');
  });

  it('shows every bidi embedding, override and isolate by its code point', () => {
    const bidi = '\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069';
    expect(safeLine(`x${bidi}y`)).toBe('x\\u202a\\u202b\\u202c\\u202d\\u202e\\u2066\\u2067\\u2068\\u2069y');
  });

  it('leaves ordinary text, including non-Latin scripts, emoji and the marks claudemesh prints, untouched', () => {
    const plain = 'héllo — 你好 🙂 ✓ ↳ re #41 · ◇ 3/4 online';
    expect(safeLine(plain)).toBe(plain);
    expect(safeText(`${plain}\n\tindented`)).toBe(`${plain}\n\tindented`);
  });

  it('never lets a control character, DEL, C1 or bidi control through, for any input', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
        expect(isTerminalSafe(safeText(s))).toBe(true);
        expect(/[\n\t]/.test(safeLine(s))).toBe(false);
        expect(isTerminalSafe(safeLine(s))).toBe(true);
      }),
    );
  });

  it('is idempotent: sanitising twice changes nothing more', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'binary', maxLength: 200 }), (s) => {
        expect(safeText(safeText(s))).toBe(safeText(s));
        expect(safeLine(safeLine(s))).toBe(safeLine(s));
      }),
    );
  });
});
