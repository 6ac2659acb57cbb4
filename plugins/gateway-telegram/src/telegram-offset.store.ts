import { readFile, rename, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

/**
 * Telegram keeps an unconfirmed update for 24 hours, and picks update ids at random after a week
 * without updates; an older offset protects nothing and could skip new updates, so it is dropped.
 */
const MAX_AGE_MS = 24 * 3600_000;

interface Saved {
  v: 1;
  /** The bot's id (the token's part before `:`): update ids are per bot, another bot's offset would skip updates. */
  bot: number;
  offset: number;
  saved_at: string;
}

/**
 * The polling offset (the next update id to ask for) in `<stateDir>/telegram-offset.json`, replaced
 * in one rename, so a restart resumes after the last update the gateway took over.
 */
export class TelegramOffsetStore {
  private readonly file: string;

  constructor(stateDir: string, private readonly bot: number) {
    this.file = join(stateDir, 'telegram-offset.json');
  }

  /** The saved offset, or undefined (none, unreadable, another bot's, too old): then Telegram's own confirmed offset holds. */
  async load(): Promise<number | undefined> {
    let saved: Partial<Saved>;
    try {
      saved = JSON.parse(await readFile(this.file, 'utf8')) as Partial<Saved>;
    } catch {
      return undefined;
    }
    if (saved.bot !== this.bot || !Number.isSafeInteger(saved.offset) || typeof saved.saved_at !== 'string') return undefined;
    if (!(Date.now() - Date.parse(saved.saved_at) < MAX_AGE_MS)) return undefined;
    return saved.offset;
  }

  async save(offset: number): Promise<void> {
    const saved: Saved = { v: 1, bot: this.bot, offset, saved_at: new Date().toISOString() };
    const tmp = `${this.file}.${process.pid}.tmp`;
    await writeFile(tmp, JSON.stringify(saved), { mode: 0o600 });
    await rename(tmp, this.file);
  }
}
