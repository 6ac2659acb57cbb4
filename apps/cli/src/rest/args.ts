import { ApiKeyCapability, DisplayName, TOPIC_LIMITS, TopicMessageId, TopicName } from '@claudemesh/core';
import { CliError, EXIT } from '../context.js';

/** Argument parsers of the topic, member, notification and apikey verbs: bad input is a usage error (exit 2). */

/** `#general`, `general` and `General` all name the topic `general`. */
export function topicArg(raw: string | undefined): string {
  const name = (raw ?? '').trim().replace(/^#/, '').toLowerCase();
  if (!TopicName.safeParse(name).success) {
    throw new CliError(`"${raw ?? ''}" is not a topic name (1–64 of a-z 0-9 _ -, not starting with _ or -, e.g. general or #deploys)\n  next: see the topics: claudemesh topic list`, EXIT.usage);
  }
  return name;
}

export function topicListArg(raw: string): string[] {
  const names = raw.split(',').map((s) => s.trim()).filter(Boolean).map(topicArg);
  if (names.length === 0) throw new CliError('--topics wants a comma-separated list of topic names, e.g. --topics general,deploys', EXIT.usage);
  if (names.length > TOPIC_LIMITS.maxKeyTopics) throw new CliError(`--topics takes at most ${TOPIC_LIMITS.maxKeyTopics} topics`, EXIT.usage);
  return [...new Set(names)];
}

/** A topic message id (digits), for --before, --up-to, --since, --reply-to. */
export function messageIdArg(flag: string, raw: string): string {
  const id = raw.replace(/^#/, '');
  if (!TopicMessageId.safeParse(id).success) throw new CliError(`${flag} wants a topic message id (digits, as in #41), got "${raw}"`, EXIT.usage);
  return id;
}

export function limitArg(raw: string, max: number): number {
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > max) throw new CliError(`--limit wants a whole number from 1 to ${max}, got "${raw}"`, EXIT.usage);
  return n;
}

export function capsArg(raw: string): ApiKeyCapability[] {
  const caps = raw.split(',').map((s) => s.trim()).filter(Boolean);
  const bad = caps.filter((c) => !ApiKeyCapability.safeParse(c).success);
  if (caps.length === 0 || bad.length > 0) throw new CliError(`unknown capabilit${bad.length === 1 ? 'y' : 'ies'} "${bad.join(',') || raw}"; --caps takes a comma-separated list of read, send, admin`, EXIT.usage);
  return [...new Set(caps)] as ApiKeyCapability[];
}

/** --ttl: seconds, or with a unit (90s, 15m, 12h, 30d). */
export function ttlArg(raw: string): number {
  const m = /^([0-9]+)\s*(s|m|h|d)?$/.exec(raw.trim());
  const seconds = m ? Number(m[1]) * { s: 1, m: 60, h: 3600, d: 86_400 }[(m[2] ?? 's') as 's' | 'm' | 'h' | 'd'] : NaN;
  if (!Number.isInteger(seconds) || seconds < 10 || seconds > TOPIC_LIMITS.maxKeyTtlS) {
    throw new CliError(`--ttl wants a lifetime from 10 s to 365 d (e.g. 3600, 90m, 12h, 30d), got "${raw}"`, EXIT.usage);
  }
  return seconds;
}

export function humanArg(raw: string): string {
  if (!DisplayName.safeParse(raw).success) throw new CliError(`"${raw}" is not a display name for --human (e.g. dana)`, EXIT.usage);
  return raw;
}

/** An API key id (16 hex), or a whole `cmk_<id>_<secret>` key, of which only the id is used. */
export function keyIdArg(raw: string | undefined): string {
  const m = /^(?:cmk_)?([a-z0-9]{16})(?:_[A-Za-z0-9_-]+)?$/.exec((raw ?? '').trim());
  if (!m) throw new CliError(`"${raw ?? ''}" is not an API key id (16 characters, as listed by claudemesh apikey list)`, EXIT.usage);
  return m[1]!;
}
