import type { LoggerService, LogLevel } from '@nestjs/common';
import pino, { type DestinationStream, type Level, type Logger as Pino } from 'pino';
import { logContext } from './log-context.js';
import { REDACT_PATHS, REDACTED, scrubSecrets } from './redact.js';

/** LOG_LEVEL as the broker has always named it (Nest's names). */
export type BrokerLogLevel = 'error' | 'warn' | 'log' | 'debug' | 'verbose';
export type LogFormat = 'json' | 'pretty';

/** Nest's level names → pino's. */
const PINO_LEVEL: Record<LogLevel, Level> = { fatal: 'fatal', error: 'error', warn: 'warn', log: 'info', debug: 'debug', verbose: 'trace' };

export interface BrokerLoggerOptions {
  level: BrokerLogLevel;
  format: LogFormat;
  /** Where lines go; default: error and fatal to stderr, the rest to stdout (looked up per write, so a test can capture them). */
  destination?: DestinationStream;
}

/** `LOG_FORMAT` unset: readable on a terminal, JSON anywhere else (a container, a pipe, a file). */
export function defaultLogFormat(): LogFormat {
  return process.stdout.isTTY ? 'pretty' : 'json';
}

const PRETTY_SKIP = new Set(['level', 'time', 'context', 'msg']);

/** `2026-01-02T03:04:05.678Z WARN  [Context] message key=value …`, one line per entry. */
export function prettyLine(json: string): string {
  let entry: Record<string, unknown>;
  try {
    entry = JSON.parse(json) as Record<string, unknown>;
  } catch {
    return json;
  }
  const level = String(entry['level'] ?? '').toUpperCase().padEnd(5);
  const context = entry['context'] ? ` [${String(entry['context'])}]` : '';
  const msg = String(entry['msg'] ?? '');
  const words = new Set(msg.split(/\s+/));
  // A field the message already shows word for word (the access line's method, route, status, ms) is not repeated.
  const rest = Object.entries(entry)
    .filter(([k, v]) => !PRETTY_SKIP.has(k) && !((typeof v === 'string' || typeof v === 'number') && words.has(String(v))))
    .map(([k, v]) => ` ${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
    .join('');
  return `${String(entry['time'] ?? '')} ${level}${context} ${msg}${rest}\n`;
}

/** error and fatal to stderr, the rest to stdout (as Nest's console logger did), pretty-printed or not. */
function standardStreams(format: LogFormat): DestinationStream {
  const stream = {
    // pino sets lastLevel before each write when the stream asks for metadata.
    [Symbol.for('pino.metadata')]: true,
    lastLevel: 0,
    write(line: string): void {
      const text = format === 'pretty' ? prettyLine(line) : line;
      if (stream.lastLevel >= 50) process.stderr.write(text);
      else process.stdout.write(text);
    },
  };
  return stream;
}

/**
 * Nest's LoggerService over pino: every `new Logger('X').warn(…)` in the broker becomes one line
 * `{"level":"warn","time":"…","context":"X","msg":"…"}` plus the request or connection it was
 * written for (log-context.ts). Messages and stacks are scrubbed of secrets (redact.ts); a level
 * that is off costs one comparison.
 */
export class BrokerLogger implements LoggerService {
  readonly pino: Pino;

  constructor(options: BrokerLoggerOptions) {
    this.pino = pino(
      {
        level: PINO_LEVEL[options.level],
        base: undefined,
        timestamp: pino.stdTimeFunctions.isoTime,
        formatters: { level: (label) => ({ level: label }) },
        redact: { paths: REDACT_PATHS, censor: REDACTED },
        mixin: () => logContext.getStore() ?? {},
      },
      options.destination ?? standardStreams(options.format),
    );
  }

  isLevelEnabled(level: LogLevel): boolean {
    return this.pino.isLevelEnabled(PINO_LEVEL[level]);
  }

  /** Nest's `app.useLogger([...])`: the lowest level listed becomes the threshold. */
  setLogLevels(levels: LogLevel[]): void {
    const order: LogLevel[] = ['verbose', 'debug', 'log', 'warn', 'error', 'fatal'];
    const lowest = order.find((l) => levels.includes(l));
    this.pino.level = lowest ? PINO_LEVEL[lowest] : 'silent';
  }

  log(message: unknown, ...params: unknown[]): void {
    this.write('info', message, params);
  }

  error(message: unknown, ...params: unknown[]): void {
    this.write('error', message, params);
  }

  warn(message: unknown, ...params: unknown[]): void {
    this.write('warn', message, params);
  }

  debug(message: unknown, ...params: unknown[]): void {
    this.write('debug', message, params);
  }

  verbose(message: unknown, ...params: unknown[]): void {
    this.write('trace', message, params);
  }

  fatal(message: unknown, ...params: unknown[]): void {
    this.write('fatal', message, params);
  }

  /**
   * For the one place whose job is to show a secret (CLAUDEMESH_MAIL=log, development only): the
   * message is written as is. Structured fields are still censored.
   */
  unredacted(level: Level, context: string, message: string): void {
    if (this.pino.isLevelEnabled(level)) this.pino[level]({ context }, message);
  }

  /** One entry at the given level, with a context and structured fields; `scrub` false for a message made of scrubbed parts. */
  entry(level: Level, context: string, scrub: boolean, fields: Record<string, unknown>, message: string): void {
    if (this.pino.isLevelEnabled(level)) this.pino[level]({ context, ...fields }, scrub ? scrubSecrets(message) : message);
  }

  /**
   * Nest calls `(message, ...params, context?)`: a Logger made with a context appends it last (an
   * error's optional stack comes before it). An object message is logged as fields.
   */
  private write(level: Level, message: unknown, params: unknown[]): void {
    if (!this.pino.isLevelEnabled(level)) return;
    const fields: Record<string, unknown> = {};
    const rest = [...params];
    if (rest.length > 0 && typeof rest.at(-1) === 'string' && (level !== 'error' || rest.length >= 2 || !isStack(rest.at(-1) as string))) {
      fields['context'] = rest.pop();
    } else if (rest.length > 0 && rest.at(-1) === undefined) rest.pop();
    const extra = rest.filter((p) => p !== undefined).map((p) => (p instanceof Error ? (p.stack ?? p.message) : typeof p === 'string' ? p : safeJson(p)));
    if (extra.length > 0) fields[level === 'error' || level === 'fatal' ? 'stack' : 'details'] = scrubSecrets(extra.join('\n'));
    if (message instanceof Error) {
      if (message.stack) fields['stack'] = scrubSecrets(message.stack);
      this.pino[level](fields, scrubSecrets(message.message));
    } else if (message !== null && typeof message === 'object') {
      for (const [k, v] of Object.entries(message)) fields[k] = typeof v === 'string' ? scrubSecrets(v) : v;
      const msg = fields['msg'] ?? fields['message'];
      delete fields['msg'];
      delete fields['message'];
      this.pino[level](fields, typeof msg === 'string' ? msg : '');
    } else {
      this.pino[level](fields, scrubSecrets(String(message)));
    }
  }
}

const isStack = (text: string): boolean => /\n\s+at /.test(text);

function safeJson(value: unknown): string {
  try {
    return JSON.stringify(value);
  } catch {
    return String(value);
  }
}

/** The broker's logger once startBroker has made one (null before, e.g. in unit tests). */
let current: BrokerLogger | null = null;

export function setCurrentLogger(logger: BrokerLogger): void {
  current = logger;
}

export function currentLogger(): BrokerLogger | null {
  return current;
}
