/** The plain drawing: block characters only, a two-module margin. */
const PLAIN = { type: 'utf8', margin: 2 } as const;
/** On a terminal: half blocks with ANSI colours, which force a light quiet zone on a dark terminal too. */
const COLOURED = { type: 'terminal', small: true } as const;

/**
 * A QR code of `text` to print. ANSI colour escapes only when stdout is a terminal; a pipe, a file
 * or `--json` gets the plain block drawing (dark modules drawn, light ones blank), which holds no
 * escape sequence. The QR encoder is loaded here, so only the verbs that draw one pay for it.
 */
export async function qrText(text: string, terminal: boolean): Promise<string> {
  const { default: QRCode } = await import('qrcode');
  return QRCode.toString(text, terminal ? COLOURED : PLAIN);
}

/** True when what goes to stdout is shown on a terminal (not piped or redirected). */
export const stdoutIsTerminal = (): boolean => process.stdout.isTTY === true;
