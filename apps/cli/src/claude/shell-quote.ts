/** Quotes one word for a POSIX shell: Claude Code runs the status line command through `sh -c`. */
export function shellQuote(word: string): string {
  return /^[\w@%+=:,./-]+$/.test(word) ? word : `'${word.replace(/'/g, `'\\''`)}'`;
}
