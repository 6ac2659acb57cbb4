import QRCode from 'qrcode';

/** What the CLI prints when stdout is not a terminal (apps/cli/src/qr-text.ts). */
export const PLAIN_QR = { type: 'utf8', margin: 2 } as const;

/**
 * Reads the module matrix of a QR code of `text` back out of its plain rendering (one blank line and
 * two blank columns of margin, two module rows per line: ▀ upper, ▄ lower, █ both) — no scanner here.
 */
export function plainModulesOf(rendered: string, size: number): boolean[] {
  const lines = rendered.split('\n');
  const out: boolean[] = [];
  for (let y = 0; y < size; y++) {
    const ch = [...(lines[1 + Math.floor(y / 2)] ?? '')];
    const top = y % 2 === 0;
    for (let x = 0; x < size; x++) {
      const c = ch[x + 2];
      out.push(top ? c === '▀' || c === '█' : c === '▄' || c === '█');
    }
  }
  return out;
}

/** The modules the QR code of `text` calls for, in the same order. */
export function modulesFor(text: string): { size: number; modules: boolean[] } {
  const { modules } = QRCode.create(text, {});
  return { size: modules.size, modules: [...modules.data].map(Boolean) };
}
