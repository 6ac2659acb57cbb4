import { execFileSync } from 'node:child_process';
import { accessSync, constants, existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { writeFileAtomic } from '../claude/atomic-file.js';
import { cliBinPath } from '../claude/cli-location.js';
import { URL_SCHEME } from './link.js';

/** The desktop entry (Linux), the applet (macOS) and the registry key (Windows) are named by these. */
export const DESKTOP_FILE = 'claudemesh-url-handler.desktop';
export const MIME_TYPE = `x-scheme-handler/${URL_SCHEME}`;
export const MAC_APP = 'claudemesh-url-handler.app';
export const MAC_BUNDLE_ID = 'dev.claudemesh.url-handler';
export const WINDOWS_KEY = `HKCU\\Software\\Classes\\${URL_SCHEME}`;
const LSREGISTER = '/System/Library/Frameworks/CoreServices.framework/Frameworks/LaunchServices.framework/Support/lsregister';

/** One thing done (or, on a dry plan, to be done) to register the scheme. */
export type Step = { kind: 'write'; path: string; content: string } | { kind: 'run'; argv: string[]; ok?: boolean; note?: string } | { kind: 'remove'; path: string; note?: string } | { kind: 'edit'; path: string; note: string };

export interface Report {
  platform: NodeJS.Platform;
  action: 'install' | 'uninstall';
  scheme: string;
  command: string[];
  steps: Step[];
  /** Linux: who set the default handler (`xdg-mime`, or `mimeapps.list` when claudemesh wrote it). */
  associated_by?: 'xdg-mime' | 'mimeapps.list';
}

/** What the OS runs for a claudemesh:// link: our node and our bin, the link as the one argument. */
export function handlerCommand(): string[] {
  return [process.execPath, cliBinPath()];
}

export function installUrlHandler(env: NodeJS.ProcessEnv = process.env): Report {
  if (process.platform === 'linux' || process.platform === 'freebsd' || process.platform === 'openbsd') return linuxInstall(env);
  if (process.platform === 'darwin') return runPlan('install', darwinInstallPlan(env));
  if (process.platform === 'win32') return runPlan('install', windowsInstallPlan());
  throw new Error(`claudemesh url-handler does not know how to register a URL scheme on ${process.platform}`);
}

export function uninstallUrlHandler(env: NodeJS.ProcessEnv = process.env): Report {
  if (process.platform === 'linux' || process.platform === 'freebsd' || process.platform === 'openbsd') return linuxUninstall(env);
  if (process.platform === 'darwin') return runPlan('uninstall', darwinUninstallPlan(env));
  if (process.platform === 'win32') return runPlan('uninstall', windowsUninstallPlan());
  throw new Error(`claudemesh url-handler does not know how to unregister a URL scheme on ${process.platform}`);
}

export function formatReport(r: Report): string {
  const lines = r.steps.map((s) => {
    switch (s.kind) {
      case 'write':
        return `  wrote ${s.path}`;
      case 'remove':
        return `  removed ${s.path}${s.note ? ` (${s.note})` : ''}`;
      case 'edit':
        return `  edited ${s.path}: ${s.note}`;
      case 'run':
        return `  ran ${s.argv.map(shellQuote).join(' ')}${s.ok === false ? ' (failed)' : ''}${s.note ? ` (${s.note})` : ''}`;
    }
  });
  const head =
    r.action === 'install'
      ? `${URL_SCHEME}:// links now open with: ${r.command.map(shellQuote).join(' ')} <link>${r.associated_by ? ` (default handler set by ${r.associated_by})` : ''}`
      : r.steps.length > 0
        ? `${URL_SCHEME}:// is no longer handled by claudemesh`
        : `${URL_SCHEME}:// was not registered by claudemesh; nothing to remove`;
  return [head, ...lines].join('\n');
}

// ---------------------------------------------------------------------------------------------
// Linux (and other freedesktop systems): a desktop entry and the x-scheme-handler default.

function xdgDir(env: NodeJS.ProcessEnv, name: 'XDG_DATA_HOME' | 'XDG_CONFIG_HOME', fallback: string[]): string {
  const value = env[name];
  // The spec: a relative path in these variables is invalid and is ignored.
  if (value && isAbsolute(value)) return value;
  return join(env['HOME'] || homedir(), ...fallback);
}

export const applicationsDir = (env: NodeJS.ProcessEnv): string => join(xdgDir(env, 'XDG_DATA_HOME', ['.local', 'share']), 'applications');
export const mimeappsPath = (env: NodeJS.ProcessEnv): string => join(xdgDir(env, 'XDG_CONFIG_HOME', ['.config']), 'mimeapps.list');
/** Where old xdg-utils wrote the defaults (deprecated by the spec, still read): cleaned on uninstall. */
const legacyMimeappsPath = (env: NodeJS.ProcessEnv): string => join(applicationsDir(env), 'mimeapps.list');

/** The desktop entry; Terminal=true because `claudemesh <link>` asks for a name and runs Claude Code. */
export function desktopEntry(command: string[]): string {
  return [
    '[Desktop Entry]',
    'Type=Application',
    'Name=claudemesh',
    'Comment=Join a claudemesh mesh from a claudemesh:// link and launch Claude Code',
    `Exec=${[...command.map(execArg), '%u'].join(' ')}`,
    `MimeType=${MIME_TYPE};`,
    'NoDisplay=true',
    'Terminal=true',
    '',
  ].join('\n');
}

/** Quotes one Exec argument per the Desktop Entry spec: `%` doubled, reserved characters quoted, then string-escaped. */
export function execArg(arg: string): string {
  const escaped = arg.replace(/%/g, '%%');
  if (!/[\s"'\\><~|&;$*?#()`]/.test(escaped)) return escaped;
  const quoted = `"${escaped.replace(/(["`$\\])/g, '\\$1')}"`;
  return quoted.replace(/\\/g, '\\\\'); // the value is itself a string, where a backslash is escaped
}

function linuxInstall(env: NodeJS.ProcessEnv): Report {
  const command = handlerCommand();
  const apps = applicationsDir(env);
  const desktop = join(apps, DESKTOP_FILE);
  const content = desktopEntry(command);
  writeFileAtomic(desktop, content, 0o644);
  const steps: Step[] = [{ kind: 'write', path: desktop, content }];
  let associatedBy: Report['associated_by'];
  const xdgMime = findOnPath('xdg-mime', env);
  if (xdgMime) {
    const argv = [xdgMime, 'default', DESKTOP_FILE, MIME_TYPE];
    const ok = tryRun(argv, env);
    steps.push({ kind: 'run', argv, ok });
    if (ok) associatedBy = 'xdg-mime';
  }
  if (!associatedBy) {
    const file = mimeappsPath(env);
    const before = existsSync(file) ? readFileSync(file, 'utf8') : '';
    writeFileAtomic(file, setDefault(before, MIME_TYPE, DESKTOP_FILE), 0o644);
    steps.push({ kind: 'edit', path: file, note: `[Default Applications] ${MIME_TYPE}=${DESKTOP_FILE}` });
    associatedBy = 'mimeapps.list';
  }
  updateDesktopDatabase(apps, env, steps);
  return { platform: process.platform, action: 'install', scheme: URL_SCHEME, command, steps, associated_by: associatedBy };
}

function linuxUninstall(env: NodeJS.ProcessEnv): Report {
  const apps = applicationsDir(env);
  const desktop = join(apps, DESKTOP_FILE);
  const steps: Step[] = [];
  if (existsSync(desktop)) {
    rmSync(desktop, { force: true });
    steps.push({ kind: 'remove', path: desktop });
  }
  for (const file of [mimeappsPath(env), legacyMimeappsPath(env)]) {
    if (!existsSync(file)) continue;
    const before = readFileSync(file, 'utf8');
    const after = removeDefault(before, MIME_TYPE, DESKTOP_FILE);
    if (after === before) continue;
    if (after.trim() === '') {
      rmSync(file, { force: true });
      steps.push({ kind: 'remove', path: file, note: `it held only the ${MIME_TYPE} default` });
    } else {
      writeFileAtomic(file, after, 0o644);
      steps.push({ kind: 'edit', path: file, note: `removed ${MIME_TYPE}=${DESKTOP_FILE}` });
    }
  }
  if (steps.length > 0) updateDesktopDatabase(apps, env, steps);
  return { platform: process.platform, action: 'uninstall', scheme: URL_SCHEME, command: handlerCommand(), steps };
}

function updateDesktopDatabase(apps: string, env: NodeJS.ProcessEnv, steps: Step[]): void {
  const tool = findOnPath('update-desktop-database', env);
  if (!tool || !existsSync(apps)) return;
  const argv = [tool, '-q', apps];
  steps.push({ kind: 'run', argv, ok: tryRun(argv, env) });
}

const SECTION = '[Default Applications]';

/**
 * Sets `key=value` in the [Default Applications] group of a mimeapps.list, keeping every other
 * line as it was; a value list for the key (`a.desktop;b.desktop;`) gets ours first.
 */
export function setDefault(text: string, key: string, value: string): string {
  const lines = text.length > 0 ? text.replace(/\n$/, '').split('\n') : [];
  const start = lines.findIndex((l) => l.trim() === SECTION);
  if (start < 0) {
    const prefix = lines.length > 0 && lines[lines.length - 1]!.trim() !== '' ? [...lines, ''] : lines;
    return [...prefix, SECTION, `${key}=${value}`, ''].join('\n');
  }
  const end = sectionEnd(lines, start);
  const at = lines.slice(start + 1, end).findIndex((l) => keyOf(l) === key);
  if (at < 0) {
    // After the group's last entry, before any blank lines that separate it from the next group.
    let insert = end;
    while (insert > start + 1 && lines[insert - 1]!.trim() === '') insert--;
    lines.splice(insert, 0, `${key}=${value}`);
  } else {
    const i = start + 1 + at;
    const others = valuesOf(lines[i]!).filter((v) => v !== value);
    lines[i] = `${key}=${[value, ...others].join(';')}${others.length > 0 ? ';' : ''}`;
  }
  return `${lines.join('\n')}\n`;
}

/** Removes our value for `key` from [Default Applications] (the key too when nothing else is left), and the group when it is empty. */
export function removeDefault(text: string, key: string, value: string): string {
  const lines = text.replace(/\n$/, '').split('\n');
  const start = lines.findIndex((l) => l.trim() === SECTION);
  if (start < 0) return text;
  const at = lines.slice(start + 1, sectionEnd(lines, start)).findIndex((l) => keyOf(l) === key);
  if (at < 0) return text;
  const i = start + 1 + at;
  const values = valuesOf(lines[i]!);
  if (!values.includes(value)) return text;
  const others = values.filter((v) => v !== value);
  if (others.length > 0) {
    lines[i] = `${key}=${others.join(';')};`;
    return `${lines.join('\n')}\n`;
  }
  lines.splice(i, 1);
  const end = sectionEnd(lines, start);
  if (lines.slice(start + 1, end).every((l) => l.trim() === '')) lines.splice(start, end - start);
  while (lines.length > 0 && lines[0]!.trim() === '') lines.shift();
  while (lines.length > 0 && lines[lines.length - 1]!.trim() === '') lines.pop();
  return lines.length === 0 ? '' : `${lines.join('\n')}\n`;
}

const keyOf = (line: string): string | null => {
  const m = /^\s*([^=#\s][^=]*?)\s*=/.exec(line);
  return m ? m[1]! : null;
};
const valuesOf = (line: string): string[] =>
  line
    .slice(line.indexOf('=') + 1)
    .split(';')
    .map((v) => v.trim())
    .filter((v) => v.length > 0);

function sectionEnd(lines: string[], start: number): number {
  for (let i = start + 1; i < lines.length; i++) if (/^\s*\[.*\]\s*$/.test(lines[i]!)) return i;
  return lines.length;
}

// ---------------------------------------------------------------------------------------------
// macOS: an AppleScript applet (an applet receives URLs as Apple events, which a shell script in a
// bundle cannot) with CFBundleURLTypes, registered with Launch Services. It opens Terminal, since
// `claudemesh <link>` asks for a name and then runs Claude Code there.

const macApp = (env: NodeJS.ProcessEnv): string => join(env['HOME'] || homedir(), 'Applications', MAC_APP);

/** The applet's script: `claudemesh <link>` in a new Terminal window. */
export function appleScript(command: string[]): string {
  const cmd = command.map(shellQuote).join(' ');
  return [
    'on open location theURL',
    `  set cmd to ${appleString(cmd)} & " " & quoted form of theURL`,
    '  tell application "Terminal"',
    '    activate',
    '    do script cmd',
    '  end tell',
    'end open location',
    '',
  ].join('\n');
}

export function darwinInstallPlan(env: NodeJS.ProcessEnv): Step[] {
  const app = macApp(env);
  const plist = join(app, 'Contents', 'Info.plist');
  const scriptFile = join(tmpdir(), 'claudemesh-url-handler.applescript');
  const urlTypes = JSON.stringify([{ CFBundleURLName: 'claudemesh invite link', CFBundleURLSchemes: [URL_SCHEME] }]);
  return [
    { kind: 'write', path: scriptFile, content: appleScript(handlerCommand()) },
    { kind: 'run', argv: ['/usr/bin/osacompile', '-o', app, scriptFile] },
    { kind: 'run', argv: ['/usr/bin/plutil', '-replace', 'CFBundleIdentifier', '-string', MAC_BUNDLE_ID, plist] },
    { kind: 'run', argv: ['/usr/bin/plutil', '-replace', 'CFBundleURLTypes', '-json', urlTypes, plist] },
    { kind: 'run', argv: ['/usr/bin/plutil', '-replace', 'LSUIElement', '-bool', 'YES', plist] },
    { kind: 'run', argv: [LSREGISTER, '-f', app] },
    { kind: 'remove', path: scriptFile },
  ];
}

export function darwinUninstallPlan(env: NodeJS.ProcessEnv): Step[] {
  const app = macApp(env);
  if (!existsSync(app)) return [];
  return [
    { kind: 'run', argv: [LSREGISTER, '-u', app] },
    { kind: 'remove', path: app },
  ];
}

// ---------------------------------------------------------------------------------------------
// Windows: HKCU\Software\Classes\claudemesh, a per-user URL protocol (no admin rights needed).

export function windowsInstallPlan(): Step[] {
  const command = `${handlerCommand()
    .map((a) => `"${a}"`)
    .join(' ')} "%1"`;
  return [
    { kind: 'run', argv: ['reg', 'add', WINDOWS_KEY, '/ve', '/d', 'URL:claudemesh invite link', '/f'] },
    { kind: 'run', argv: ['reg', 'add', WINDOWS_KEY, '/v', 'URL Protocol', '/d', '', '/f'] },
    { kind: 'run', argv: ['reg', 'add', `${WINDOWS_KEY}\\shell\\open\\command`, '/ve', '/d', command, '/f'] },
  ];
}

export function windowsUninstallPlan(): Step[] {
  // Only our key: one whose open command runs claudemesh (another program may own the scheme).
  let current = '';
  try {
    current = execFileSync('reg', ['query', `${WINDOWS_KEY}\\shell\\open\\command`, '/ve'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  } catch {
    return [];
  }
  if (!/claudemesh/i.test(current)) return [];
  return [{ kind: 'run', argv: ['reg', 'delete', WINDOWS_KEY, '/f'] }];
}

// ---------------------------------------------------------------------------------------------

/** Runs a macOS or Windows plan step by step, stopping at the first failure. */
function runPlan(action: Report['action'], steps: Step[]): Report {
  for (const step of steps) {
    if (step.kind === 'write') writeFileSync(step.path, step.content, { mode: 0o644 });
    else if (step.kind === 'remove') rmSync(step.path, { recursive: true, force: true });
    else if (step.kind === 'run') {
      try {
        execFileSync(step.argv[0]!, step.argv.slice(1), { stdio: ['ignore', 'ignore', 'pipe'] });
        step.ok = true;
      } catch (error) {
        const stderr = String((error as { stderr?: Buffer }).stderr ?? '').trim();
        throw new Error(`${step.argv.map(shellQuote).join(' ')} failed${stderr ? `: ${stderr}` : ''}`);
      }
    }
  }
  return { platform: process.platform, action, scheme: URL_SCHEME, command: handlerCommand(), steps };
}

function tryRun(argv: string[], env: NodeJS.ProcessEnv): boolean {
  try {
    execFileSync(argv[0]!, argv.slice(1), { env, stdio: ['ignore', 'ignore', 'ignore'], timeout: 30_000 });
    return true;
  } catch {
    return false;
  }
}

/** An executable on PATH (no `which`: it is not everywhere). */
export function findOnPath(name: string, env: NodeJS.ProcessEnv = process.env): string | null {
  for (const dir of (env['PATH'] ?? '').split(delimiter)) {
    if (!dir) continue;
    const file = join(dir, name);
    try {
      accessSync(file, constants.X_OK);
      return file;
    } catch {
      // not here
    }
  }
  return null;
}

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** An AppleScript string literal. */
const appleString = (s: string): string => `"${s.replace(/\\/g, '\\\\').replace(/"/g, '\\"')}"`;
