import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import QRCode from 'qrcode';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestBroker, type TestBroker } from '../../../test/helpers/broker.js';
import { PLAIN_QR, modulesFor, plainModulesOf } from './helpers/qr.js';
import { cliOnTty } from './helpers/tty.js';

const CLI = fileURLToPath(new URL('../bin/claudemesh.js', import.meta.url));
const run = promisify(execFile);
const QR_OPTIONS = { type: 'terminal', small: true } as const;

async function cli(home: string, args: string[], env: Record<string, string> = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  try {
    const { stdout, stderr } = await run(process.execPath, [CLI, ...args], { env: { ...process.env, CLAUDEMESH_HOME: home, CLAUDEMESH_DAEMON: 'off', ...env } });
    return { code: 0, stdout, stderr };
  } catch (error) {
    const e = error as { code: number; stdout: string; stderr: string };
    return { code: e.code, stdout: e.stdout, stderr: e.stderr };
  }
}

type Shade = 'dark' | 'light' | 'none';
const ESC = String.fromCharCode(27);

/**
 * Reads a terminal QR drawing back into cells, as a terminal would show it: tracks the SGR colours
 * (30/37 foreground black/white, 40/47 background, 0 reset to the terminal's own) and splits each
 * half-block character into its upper and lower cell ('▀' upper in the foreground colour, '▄'
 * lower, '█' both, ' ' both in the background). Returns rows of cells, two rows per text line.
 */
function readTerminalQr(text: string): Shade[][] {
  const colour = (code: number): Shade => (code === 30 || code === 40 ? 'dark' : code === 37 || code === 47 ? 'light' : 'none');
  let fg: Shade = 'none';
  let bg: Shade = 'none';
  const rows: Shade[][] = [];
  for (const line of text.split('\n')) {
    const upper: Shade[] = [];
    const lower: Shade[] = [];
    for (let i = 0; i < line.length; ) {
      if (line.startsWith(`${ESC}[`, i)) {
        const end = line.indexOf('m', i);
        const code = Number(line.slice(i + 2, end));
        if (end < 0 || !Number.isInteger(code)) throw new Error(`unreadable escape at ${i}`);
        if (code === 0) fg = bg = 'none';
        else if (code >= 30 && code <= 37) fg = colour(code);
        else if (code >= 40 && code <= 47) bg = colour(code);
        else throw new Error(`unexpected SGR ${code}`);
        i = end + 1;
        continue;
      }
      const ch = line[i]!;
      const cells: Record<string, [Shade, Shade]> = { ' ': [bg, bg], '▀': [fg, bg], '▄': [bg, fg], '█': [fg, fg] };
      if (!cells[ch]) throw new Error(`unexpected character ${JSON.stringify(ch)}`);
      upper.push(cells[ch][0]);
      lower.push(cells[ch][1]);
      i += 1;
    }
    if (upper.length > 0) rows.push(upper, lower);
  }
  return rows;
}

/** The cells the QR's module matrix calls for: the symbol (dark modules), a one-module light border, nothing beyond. */
function expectedCells(link: string): Shade[][] {
  const { modules } = QRCode.create(link, {});
  const size = modules.size;
  const rows: Shade[][] = [];
  for (let y = -1; y <= size + 1; y++) {
    const row: Shade[] = [];
    for (let x = -1; x <= size; x++) {
      if (y > size) row.push('none');
      else if (x < 0 || y < 0 || x >= size || y >= size) row.push('light');
      else row.push(modules.get(y, x) ? 'dark' : 'light');
    }
    rows.push(row);
  }
  return rows;
}

describe('claudemesh mesh share against a live broker', () => {
  let tb: TestBroker;
  const homes: string[] = [];
  const home = () => {
    const h = mkdtempSync(join(tmpdir(), 'cmh-share-'));
    homes.push(h);
    return h;
  };
  let ownerHome: string;

  beforeAll(async () => {
    tb = await startTestBroker('embedded');
    ownerHome = home();
    const created = await cli(ownerHome, ['mesh', 'create', 'team', '--broker', tb.url, '--name', 'olive'], { CLAUDEMESH_ADMIN_TOKEN: ADMIN_TOKEN });
    expect(created.code, created.stderr).toBe(0);
  });
  afterAll(async () => {
    await tb?.close();
    for (const h of homes) rmSync(h, { recursive: true, force: true });
  });

  it('--json: the invite mesh invite would issue, plus its link drawn as a plain QR code (no escape sequences); another home joins with the link', async () => {
    const shared = await cli(ownerHome, ['mesh', 'share', '--uses', '2', '--role', 'member', '--ttl', '2', '--json']);
    expect(shared.code, shared.stderr).toBe(0);
    const out = JSON.parse(shared.stdout) as { version: number; link: string; short_link: string; code: string; max_uses: number; role: string; expires_at: number; qr: string };
    expect(out).toMatchObject({ version: 2, max_uses: 2, role: 'member' });
    expect(out.link).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/i\/[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}$/);
    expect(out.expires_at - Date.now()).toBeGreaterThan(3_600_000);
    expect(out.expires_at - Date.now()).toBeLessThanOrEqual(2 * 3_600_000);
    expect(out.qr).toBe(await QRCode.toString(out.link, PLAIN_QR));
    expect(out.qr).not.toContain(ESC);
    // The drawing shows the QR symbol of exactly this link, module by module.
    const { size, modules } = modulesFor(out.link);
    expect(plainModulesOf(out.qr, size)).toEqual(modules);

    const bob = home();
    const joined = await cli(bob, ['join', out.link, '--name', 'bob']);
    expect(joined.code, joined.stderr).toBe(0);
    const listed = JSON.parse((await cli(bob, ['mesh', 'list', '--json'])).stdout) as Array<{ mesh_name: string; role: string }>;
    expect(listed).toEqual([expect.objectContaining({ mesh_name: 'team', role: 'member' })]);
    const carol = home();
    expect((await cli(carol, ['join', out.code, '--broker', tb.url, '--name', 'carol'])).code).toBe(0);
    const third = await cli(home(), ['join', out.link, '--name', 'dave']);
    expect(third.code).not.toBe(0); // two uses, both taken
  });

  it('text, piped: the invite lines, then the plain QR code of the link, with no escape sequence', async () => {
    const shared = await cli(ownerHome, ['mesh', 'share']);
    expect(shared.code, shared.stderr).toBe(0);
    const link = /^ {2}(http\S+)$/m.exec(shared.stdout)![1]!;
    const qr = await QRCode.toString(link, PLAIN_QR);
    expect(shared.stdout).toMatch(/^invite for "team" \(1 use, member, expires \d{4}-\d\d-\d\dT[\d:.]+Z\):\n {2}http/);
    expect(shared.stdout).toContain(`  claudemesh join '${link}' --name <their-name>\n`);
    expect(shared.stdout).toContain(`\nor scan the link:\n${qr}\n`);
    expect(shared.stdout.endsWith(`${qr}\n`)).toBe(true);
    expect(shared.stdout).not.toContain(ESC);
    expect((await cli(home(), ['join', link, '--name', 'erin'])).code).toBe(0);
  });

  it('text, on a terminal: the QR code is drawn with colours (a light quiet zone on any background)', async () => {
    const shown = await cliOnTty(['mesh', 'share'], { CLAUDEMESH_HOME: ownerHome, CLAUDEMESH_DAEMON: 'off' });
    expect(shown.code, shown.out).toBe(0);
    const out = shown.out.replace(/\r\n/g, '\n');
    const link = /^ {2}(http\S+)$/m.exec(out)![1]!;
    const qr = await QRCode.toString(link, QR_OPTIONS);
    expect(out).toContain(`\nor scan the link:\n${qr}\n`);
    expect(readTerminalQr(qr)).toEqual(expectedCells(link));
  });

  it('--v1: a signed ic://join link in the QR code, which joins too', async () => {
    const shared = await cli(ownerHome, ['mesh', 'share', '--v1', '--json']);
    expect(shared.code, shared.stderr).toBe(0);
    const out = JSON.parse(shared.stdout) as { version: number; link: string; https_link: string; qr: string };
    expect(out.version).toBe(1);
    expect(out.link).toMatch(/^ic:\/\/join\//);
    expect(out.qr).toBe(await QRCode.toString(out.link, PLAIN_QR));
    const { size, modules } = modulesFor(out.link);
    expect(plainModulesOf(out.qr, size)).toEqual(modules);
    const frank = home();
    expect((await cli(frank, ['join', out.link, '--name', 'frank'])).code).toBe(0);
    expect(JSON.parse((await cli(frank, ['whoami', '--json'])).stdout)).toMatchObject({ display_name: 'frank', has_mesh_key: true });
  });

  it('refuses what mesh invite refuses: a member sharing, bad terms', async () => {
    const member = home();
    const { link } = JSON.parse((await cli(ownerHome, ['mesh', 'invite', '--json'])).stdout) as { link: string };
    expect((await cli(member, ['join', link, '--name', 'gil'])).code).toBe(0);
    const refused = await cli(member, ['mesh', 'share']);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toMatch(/you are a member of "team"; ask its owner or an admin for an invite/);
    expect(refused.stdout).toBe('');
    const badUses = await cli(ownerHome, ['mesh', 'share', '--uses', '0']);
    expect(badUses.code).toBe(2);
    expect(badUses.stderr).toMatch(/--uses wants a whole number/);
    expect((await cli(ownerHome, ['mesh', 'share', '--role', 'owner'])).code).toBe(2);
  });
});

describe('the terminal QR reader', () => {
  it('tells a QR drawing of another link apart', async () => {
    const a = await QRCode.toString('https://example.test/i/AAAA-AAAA-AAAA-AAAA', QR_OPTIONS);
    expect(readTerminalQr(a)).toEqual(expectedCells('https://example.test/i/AAAA-AAAA-AAAA-AAAA'));
    expect(readTerminalQr(a)).not.toEqual(expectedCells('https://example.test/i/AAAA-AAAA-AAAA-AAAB'));
  });
});
