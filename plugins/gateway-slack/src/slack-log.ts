import { LogLevel, type Logger } from '@slack/bolt';

// Any Slack token shape, in case a library echoes one we were not given (a rotated token in a URL, say).
const TOKEN_SHAPE = /\b(xox[abeoprs]|xapp)-[A-Za-z0-9-]+/g;

export interface Redactor {
  (text: string): string;
}

/** Replaces the given secrets and anything shaped like a Slack token. */
export function redactor(secrets: ReadonlyArray<string | undefined>): Redactor {
  const known = secrets.filter((s): s is string => s !== undefined && s.length > 0).sort((a, b) => b.length - a.length);
  return (text) => {
    let out = text;
    for (const s of known) out = out.split(s).join('[redacted]');
    return out.replace(TOKEN_SHAPE, '$1-[redacted]');
  };
}

/** A value as one log line: an error by name and message (not its stack or attached request). */
export function showValue(value: unknown): string {
  if (value instanceof Error) return `${value.name}: ${value.message}`;
  if (typeof value === 'string') return value;
  try {
    return JSON.stringify(value) ?? String(value);
  } catch {
    return String(value);
  }
}

/**
 * The logger handed to Bolt, its Socket Mode client and the Web API client: warnings and errors only
 * (their debug output carries message bodies), each line redacted before it reaches the host's log.
 */
export function slackLogger(log: (line: string) => void, redact: Redactor): Logger {
  const emit = (level: string, msg: unknown[]) => log(redact(`slack ${level}: ${msg.map(showValue).join(' ')}`));
  return {
    debug: () => undefined,
    info: () => undefined,
    warn: (...msg: unknown[]) => emit('warn', msg),
    error: (...msg: unknown[]) => emit('error', msg),
    setLevel: () => undefined,
    getLevel: () => LogLevel.WARN,
    setName: () => undefined,
  };
}
