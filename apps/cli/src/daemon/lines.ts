/** Newline-delimited JSON framing for the daemon socket (no dependencies: the fast path loads it). */
/** Splits a byte stream into lines; a line over `maxBytes` is an error (a peer that never ends its line). */
export class LineReader {
  private buffer = '';

  constructor(
    private readonly onLine: (line: string) => void,
    private readonly maxBytes = 4 * 1024 * 1024,
  ) {}

  push(chunk: Buffer | string): void {
    this.buffer += chunk.toString();
    for (let nl = this.buffer.indexOf('\n'); nl >= 0; nl = this.buffer.indexOf('\n')) {
      const line = this.buffer.slice(0, nl);
      this.buffer = this.buffer.slice(nl + 1);
      if (line.trim()) this.onLine(line);
    }
    if (this.buffer.length > this.maxBytes) throw new Error('line too long');
  }
}
