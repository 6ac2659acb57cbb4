/**
 * Makes text from other members safe to print on a terminal. Names, summaries, statuses, message
 * and topic text, mesh names and descriptions come from other people (or a broker): raw, an ESC,
 * CSI or OSC sequence in them could retitle the terminal, clear it and draw fake output, a BEL ring
 * it, a carriage return overwrite a line, and a bidi override reorder what is shown. Each such
 * character is replaced by a visible stand-in: a C0 control by its Control Picture (ESC → ␛,
 * BEL → ␇, CR → ␍), DEL by ␡, and C1 controls, bidi embeddings, overrides and isolates and the
 * Unicode line separators by their code written out (`\u009b`, `\u202e`).
 *
 * Every text printer (format.ts, the fast path, the command outputs, the status line) passes
 * through here; `--json` never does, so scripts see exactly what was sent. This module loads
 * nothing, so the fast path can use it.
 */

/** Every control, DEL, C1, U+2028/2029, and the bidi embeddings/overrides (202A–202E) and isolates (2066–2069). */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE_IN_LINE = /[\u0000-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;
/** The same, except newline and tab, which a message body may hold. */
// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNSAFE_IN_TEXT = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u2028\u2029\u202a-\u202e\u2066-\u2069]/g;

const CONTROL_PICTURES = 0x2400;
const DELETE_PICTURE = '\u2421';

function visible(ch: string): string {
  const code = ch.charCodeAt(0);
  if (code < 0x20) return String.fromCharCode(CONTROL_PICTURES + code);
  if (code === 0x7f) return DELETE_PICTURE;
  return `\\u${code.toString(16).padStart(4, '0')}`;
}

/** A one-line field (a name, a summary, a mesh name): newlines and tabs are made visible too. */
export function safeLine(text: string): string {
  return text.replace(UNSAFE_IN_LINE, visible);
}

/** Multi-line text (a message body, a whole block of output): newlines and tabs stay; CRLF becomes a newline. */
export function safeText(text: string): string {
  return text.replace(/\r\n/g, '\n').replace(UNSAFE_IN_TEXT, visible);
}

/** True when `text` holds nothing that {@link safeText} would replace (tests and checks). */
export function isTerminalSafe(text: string): boolean {
  return !new RegExp(UNSAFE_IN_TEXT.source).test(text);
}
