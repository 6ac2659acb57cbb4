import { h } from 'preact';
import { renderToString } from 'preact-render-to-string';
import { describe, expect, it } from 'vitest';
import { renderMarkdown, safeUrl } from '../src/markdown.js';

const md = (text: string, me?: string): string => renderToString(h('div', null, renderMarkdown(text, me === undefined ? {} : { me })));

describe('markdown: hostile input stays text', () => {
  it('renders tags as literal text', () => {
    const out = md('<img src=x onerror=alert(1)>');
    expect(out).toBe('<div><p>&lt;img src=x onerror=alert(1)></p></div>');
    expect(out).not.toContain('<img');
    expect(md('<script>alert(1)</script>')).not.toContain('<script');
    expect(md('<a href="javascript:alert(1)">x</a>')).not.toContain('<a ');
  });

  it('links nothing but http, https and mailto', () => {
    for (const bad of ['[x](javascript:alert(1))', '[x](JaVaScRiPt:alert(1))', '[x](data:text/html;base64,PHNjcmlwdD4=)', '[x](vbscript:msgbox)', '[x](/relative)', 'javascript:alert(1)', 'data:text/html,<script>alert(1)</script>']) {
      const out = md(bad);
      expect(out, bad).not.toContain('<a');
      expect(out, bad).not.toContain('<script');
    }
    expect(safeUrl('javascript:alert(1)')).toBeNull();
    expect(safeUrl('https://example.org/a')).toBe('https://example.org/a');
  });

  it('keeps quotes out of attributes', () => {
    const out = md('[x](https://e.org/"onmouseover="alert(1))');
    expect(out).not.toMatch(/ onmouseover=/);
  });

  it('code spans and fences keep markup literal', () => {
    expect(md('`<b>`')).toBe('<div><p><code>&lt;b></code></p></div>');
    expect(md('```\n<script>x</script>\n**no**\n```')).toBe('<div><pre><code>&lt;script>x&lt;/script>\n**no**</code></pre></div>');
  });
});

describe('markdown: formatting', () => {
  it('paragraphs and line breaks', () => {
    expect(md('one\ntwo\n\nthree')).toBe('<div><p>one<br/>two</p><p>three</p></div>');
  });

  it('bold, italic, inline code', () => {
    expect(md('**b** *i* `c`')).toBe('<div><p><strong>b</strong> <em>i</em> <code>c</code></p></div>');
    expect(md('**bold *and* italic**')).toContain('<strong>bold <em>and</em> italic</strong>');
    expect(md('2 * 3 * 4')).toBe('<div><p>2 * 3 * 4</p></div>');
  });

  it('quotes and lists', () => {
    expect(md('> quoted\n> more')).toBe('<div><blockquote><p>quoted<br/>more</p></blockquote></div>');
    expect(md('- a\n- **b**')).toBe('<div><ul><li>a</li><li><strong>b</strong></li></ul></div>');
    expect(md('1. a\n2. b')).toBe('<div><ol><li>a</li><li>b</li></ol></div>');
  });

  it('links and bare URLs open safely in a new tab', () => {
    expect(md('[docs](https://e.org/x)')).toBe('<div><p><a href="https://e.org/x" rel="noopener noreferrer nofollow" target="_blank">docs</a></p></div>');
    expect(md('see https://e.org/a.')).toBe('<div><p>see <a href="https://e.org/a" rel="noopener noreferrer nofollow" target="_blank">https://e.org/a</a>.</p></div>');
    expect(md('[mail](mailto:a@b.org)')).toContain('href="mailto:a@b.org"');
  });
});

describe('markdown: mentions', () => {
  it('highlights @names, and the reader own name more', () => {
    expect(md('hi @alice and @bob', 'bob')).toBe('<div><p>hi <span class="mention">@alice</span> and <span class="mention mention-me">@bob</span></p></div>');
  });

  it('an email address is no mention, and trailing punctuation is not part of one', () => {
    expect(md('mail a@b.org')).not.toContain('mention');
    expect(md('thanks @alice.')).toBe('<div><p>thanks <span class="mention">@alice</span>.</p></div>');
  });
});
