/**
 * Splits a message into parts of at most `max` characters for a chat API that refuses longer ones.
 * Cuts at a paragraph break, else a line break, else a space, else hard; a part that ends inside a
 * ``` code block closes it and the next part opens it again (with its language), so every part
 * reads as a whole block. Parts are numbered `(1/3)` when there is more than one.
 */
export function splitText(text: string, max: number): string[] {
  if (max < 64) throw new RangeError('max must be at least 64');
  if (text.length <= max) return [text];
  // Room for the numbering, and for a fence closed at the end and opened again at the start.
  const budget = max - 12 - 2 * (FENCE_ROOM + 1);
  const parts: string[] = [];
  let rest = text;
  let reopen = '';
  while (rest.length > 0) {
    const room = budget - reopen.length;
    const cut = rest.length <= room ? rest.length : cutPoint(rest, room);
    let part = rest.slice(0, cut);
    rest = rest.slice(cut).replace(/^\n+/, '');
    const opened = openFence(reopen + part);
    part = reopen + part;
    if (opened !== null && rest.length > 0) {
      part = `${part.replace(/\n*$/, '')}\n\`\`\``;
      reopen = `\`\`\`${opened}\n`;
    } else {
      reopen = '';
    }
    parts.push(part);
  }
  return parts.length === 1 ? parts : parts.map((p, i) => `(${i + 1}/${parts.length}) ${p}`);
}

/** The longest fence line re-opened (``` plus a language tag). */
const FENCE_ROOM = 3 + 20;

function cutPoint(s: string, room: number): number {
  const window = s.slice(0, room);
  for (const sep of ['\n\n', '\n', ' ']) {
    const at = window.lastIndexOf(sep);
    // Not too early: a break in the first half would make many tiny parts.
    if (at > room / 2) return at + (sep === ' ' ? 1 : 0);
  }
  return room;
}

/** The language of the ``` block left open at the end of `s` ('' for none given), or null when none is open. */
function openFence(s: string): string | null {
  let open: string | null = null;
  for (const line of s.split('\n')) {
    const m = /^\s*```(\S{0,20})/.exec(line);
    if (!m) continue;
    open = open === null ? m[1]! : null;
  }
  return open;
}
