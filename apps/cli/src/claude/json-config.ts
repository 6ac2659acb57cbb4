import { readFileSync, statSync } from 'node:fs';
import { CliError } from '../context.js';
import { writeFileAtomic } from './atomic-file.js';
import { tildify } from './paths.js';

export type JsonObject = Record<string, unknown>;

/** A JSON config file as found on disk, kept whole so writing it back changes only what we changed. */
export interface JsonConfig {
  path: string;
  /** The file's text, or null when the file does not exist. */
  text: string | null;
  value: JsonObject;
  mode: number;
}

/** Mode for a config file we create: ~/.claude.json holds OAuth account data, so owner-only. */
const NEW_FILE_MODE = 0o600;

/**
 * Reads and parses a Claude Code config file. A malformed file is an error, never "treat as
 * empty": writing our key into `{}` would wipe the user's config.
 */
export function readJsonConfig(path: string, retry: string): JsonConfig {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { path, text: null, value: {}, mode: NEW_FILE_MODE };
    throw new CliError(`cannot read ${tildify(path)}: ${(error as Error).message}; fix its permissions, then run: ${retry}`);
  }
  let value: unknown;
  try {
    value = text.trim() === '' ? {} : JSON.parse(text);
  } catch (error) {
    throw new CliError(`${tildify(path)} is not valid JSON (${(error as Error).message}); nothing was changed. Fix the file or move it aside, then run: ${retry}`);
  }
  if (!isJsonObject(value)) throw new CliError(`${tildify(path)} does not hold a JSON object; nothing was changed. Fix the file or move it aside, then run: ${retry}`);
  return { path, text, value, mode: statSync(path).mode & 0o777 };
}

export function isJsonObject(value: unknown): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** Serializes like Claude Code does (2-space indent), keeping the original's trailing newline habit. */
export function renderJson(value: JsonObject, original: string | null): string {
  const body = JSON.stringify(value, null, 2);
  return original === null || original.endsWith('\n') ? `${body}\n` : body;
}

/**
 * Writes `value` back only when it differs from what the file holds, so a no-op install or
 * uninstall leaves the file byte-for-byte alone. Returns whether it wrote.
 */
export function saveJsonConfig(config: JsonConfig, value: JsonObject): boolean {
  if (config.text !== null && JSON.stringify(config.value) === JSON.stringify(value)) return false;
  writeFileAtomic(config.path, renderJson(value, config.text), config.mode);
  return true;
}
