import { h, type ComponentChildren, type VNode } from 'preact';

/**
 * A small Markdown subset rendered straight to Preact vnodes. Text only ever becomes text nodes,
 * which Preact escapes, so markup in a message shows as written; links keep http:, https: and
 * mailto: targets only. Blocks: paragraphs (line breaks kept), ``` fences, > quotes, - and 1.
 * lists. Inline: **bold**, *italic*, `code`, [text](url), bare URLs, @mentions.
 */
export interface MarkdownOptions {
  /** The signed-in member's display name: its mentions get `mention-me`. */
  me?: string;
}

const SAFE_SCHEMES = new Set(['http:', 'https:', 'mailto:']);
const MAX_DEPTH = 4;
const LINK_ATTRS = { rel: 'noopener noreferrer nofollow', target: '_blank' };

/** The URL as a link target, or null when it is not an absolute http(s)/mailto URL. */
export function safeUrl(raw: string): string | null {
  try {
    const url = new URL(raw);
    return SAFE_SCHEMES.has(url.protocol) ? url.href : null;
  } catch {
    return null;
  }
}

export function renderMarkdown(text: string, opts: MarkdownOptions = {}): VNode[] {
  return blocks(text.replace(/\r\n?/g, '\n').split('\n'), opts, 0);
}

const FENCE = /^\s{0,3}```/;
const QUOTE = /^\s{0,3}>/;
const BULLET = /^\s{0,3}[-*+]\s+(.*)$/;
const ORDERED = /^\s{0,3}\d{1,9}[.)]\s+(.*)$/;
const startsBlock = (l: string): boolean => FENCE.test(l) || QUOTE.test(l) || BULLET.test(l) || ORDERED.test(l);

function blocks(lines: string[], opts: MarkdownOptions, depth: number): VNode[] {
  const out: VNode[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (line.trim() === '') {
      i++;
    } else if (FENCE.test(line)) {
      const body: string[] = [];
      for (i++; i < lines.length && !FENCE.test(lines[i]!); i++) body.push(lines[i]!);
      i++; // the closing fence (or past the end: an unclosed fence runs to the end)
      out.push(h('pre', null, h('code', null, body.join('\n'))));
    } else if (QUOTE.test(line) && depth < MAX_DEPTH) {
      const body: string[] = [];
      for (; i < lines.length && QUOTE.test(lines[i]!); i++) body.push(lines[i]!.replace(/^\s{0,3}> ?/, ''));
      out.push(h('blockquote', null, blocks(body, opts, depth + 1)));
    } else if (BULLET.test(line) || ORDERED.test(line)) {
      const re = BULLET.test(line) ? BULLET : ORDERED;
      const items: VNode[] = [];
      for (let m; i < lines.length && (m = re.exec(lines[i]!)); i++) items.push(h('li', null, inline(m[1]!, opts, depth)));
      out.push(h(re === BULLET ? 'ul' : 'ol', null, items));
    } else {
      const para: ComponentChildren[] = [];
      for (; i < lines.length && lines[i]!.trim() !== '' && (para.length === 0 || !startsBlock(lines[i]!)); i++) {
        if (para.length > 0) para.push(h('br', null));
        para.push(...inline(lines[i]!, opts, depth));
      }
      out.push(h('p', null, para));
    }
  }
  return out;
}

/**
 * Inline tokens, first match wins: code spans (their content stays literal), bold, italic, links,
 * bare URLs, mentions (not after a name character, so `a@b.c` is no mention).
 */
const INLINE =
  /(`+)([^`]|[^`][\s\S]*?[^`])\1(?!`)|\*\*(?=\S)([\s\S]*?\S)\*\*|\*(?=[^\s*])([\s\S]*?[^\s*])\*|\[([^\]\n]+)\]\(([^()\s]+)\)|\b(https?:\/\/[^\s<>"'`]+|mailto:[^\s<>"'`]+)|(?<![A-Za-z0-9._-])@([A-Za-z0-9][A-Za-z0-9._-]{0,63})/g;

function inline(text: string, opts: MarkdownOptions, depth: number): ComponentChildren[] {
  const out: ComponentChildren[] = [];
  const re = new RegExp(INLINE.source, 'g');
  let last = 0;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    let node: ComponentChildren = null;
    let end = re.lastIndex;
    const [whole, , code, bold, italic, linkText, linkUrl, bare, mention] = m;
    if (code !== undefined) node = h('code', null, code);
    else if (bold !== undefined) node = depth < MAX_DEPTH ? h('strong', null, inline(bold, opts, depth + 1)) : whole;
    else if (italic !== undefined) node = depth < MAX_DEPTH ? h('em', null, inline(italic, opts, depth + 1)) : whole;
    else if (linkText !== undefined) {
      const url = safeUrl(linkUrl!);
      node = url ? h('a', { href: url, ...LINK_ATTRS }, linkText) : whole;
    } else if (bare !== undefined) {
      // Sentence punctuation after a URL is not part of it.
      const trimmed = bare.replace(/[.,;:!?)\]}]+$/, '');
      end = m.index + trimmed.length;
      const url = safeUrl(trimmed);
      node = url ? h('a', { href: url, ...LINK_ATTRS }, trimmed) : trimmed;
    } else if (mention !== undefined) {
      const name = mention.replace(/[._-]+$/, '');
      end = m.index + 1 + name.length;
      const mine = opts.me !== undefined && name.toLowerCase() === opts.me.toLowerCase();
      node = h('span', { class: mine ? 'mention mention-me' : 'mention' }, `@${name}`);
    }
    if (m.index > last) out.push(text.slice(last, m.index));
    out.push(node);
    last = end;
    re.lastIndex = end;
  }
  if (last < text.length) out.push(text.slice(last));
  return out;
}
