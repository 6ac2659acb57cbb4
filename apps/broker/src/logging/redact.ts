/**
 * What never reaches the broker's log: secrets. Two layers, both applied by BrokerLogger.
 *
 * 1. Structured fields whose name says "secret" (authorization, apiKey, token, code, …) are
 *    censored by pino's `redact` (REDACT_PATHS), at the top level and one level down.
 * 2. Message strings are scrubbed by one precompiled regex (`scrubSecrets`) for the shapes of the
 *    secrets this broker deals with, in case one is interpolated into a message: API keys
 *    (`cmk_<id>_<secret>`: the public id is kept), invite codes (`ABCD-EFGH-JKMN-PQRS`, `E-…`, and
 *    whatever follows `/i/` or `/e/`), v1 links (`ic://join/…`, `…/join#…`), `Bearer`/`Basic`
 *    credentials, `name=value` and `"name":"value"` pairs of secret-sounding names (`?code=…`),
 *    URL fragments (`https://…/#/signin?code=…`), URL passwords (`postgres://user:pw@…`),
 *    random-looking base64url runs of 43+ characters (keys, seeds, sign-in codes), and the
 *    literal values of the secrets the broker is configured with (ADMIN_TOKEN, the metrics token,
 *    the VAPID private key, the mail credentials: `registerSecret`).
 *
 * Public keys (64 lower-case hex), ids (UUIDs) and lookups that are lower-case hex stay readable.
 */

export const REDACTED = '[redacted]';

/** Field names censored wherever they appear (case as written; both spellings where they differ). */
export const SECRET_FIELDS = [
  'authorization',
  'Authorization',
  'cookie',
  'Cookie',
  'set-cookie',
  'apiKey',
  'api_key',
  'apikey',
  'key',
  'secret',
  'token',
  'adminToken',
  'admin_token',
  'accessToken',
  'access_token',
  'password',
  'passwd',
  'code',
  'invite',
  'inviteCode',
  'invite_code',
  'link',
  'seed',
  'privateKey',
  'private_key',
  'secretKey',
  'secret_key',
  'meshKey',
  'mesh_key',
  'x-api-key',
] as const;

/** pino `redact` paths: each name at the top level, one level down, and under `headers`. */
export const REDACT_PATHS: string[] = SECRET_FIELDS.flatMap((name) => {
  const prop = /^[A-Za-z_$][\w$]*$/.test(name) ? name : `["${name}"]`;
  const member = prop.startsWith('[') ? prop : `.${prop}`;
  return [prop, `*${member}`, `headers${member}`, `req.headers${member}`];
});

/** Names whose `name=value` / `"name": "value"` values are scrubbed from messages. */
const escapeRegex = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
/** A case-insensitive pattern of a word, for one alternative (the regex as a whole is case-sensitive). */
const ci = (word: string): string => word.replace(/[a-z]/g, (c) => `[${c}${c.toUpperCase()}]`);

const SECRET_NAMES = ['api[_-]?key', 'apikey', 'access[_-]?token', 'token', 'secret', 'password', 'passwd', 'pass', 'code', 'invite', 'key', 'sig', 'seed', 'private[_-]?key', 'auth', 'authorization', 'cookie']
  .map(ci)
  .join('|');

const SHAPES = [
  // An API key: `cmk_<16 chars>_<43 chars>`, or anything starting so (a truncated or malformed key).
  String.raw`(?<apikey>\bcmk_[A-Za-z0-9_-]*(?:\[redacted\])?)`,
  // Credentials after an HTTP auth scheme.
  String.raw`(?<auth>\b(?:${ci('bearer')}|${ci('basic')})\s+[^\s"',;]+)`,
  // Invite codes, grouped by four (short and email invites: `E-` in front); lower case only with a digit.
  String.raw`(?<invite>\b(?:[Ee]-)?[0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4}-[0-9A-Za-z]{4}\b)`,
  // What follows a short-link or email-invite path (not a route's `:code`), a v1 link's prefix, or a `#` in a URL.
  String.raw`(?<after>(?<=\/[ie]\/)(?!:)[^/\s?#"'<>,{}]+|(?<=ic:\/\/join\/)[^\s"'<>]+|(?<=\bhttps?:\/\/[^\s#"'<>]*)#[^\s"'<>]*)`,
  // `name=value` and `"name":"value"` of secret-sounding names (query strings, forms, JSON).
  String.raw`(?<pair>(?<=\b(?:${SECRET_NAMES})=)[^&\s#"',;]+|(?<="(?:${SECRET_NAMES})"\s*:\s*")[^"]+)`,
  // A URL's password: scheme://user:<password>@host.
  String.raw`(?<userinfo>(?<=\b[A-Za-z][A-Za-z0-9+.-]*:\/\/[^/\s:@]*:)[^@\s/]+(?=@))`,
  // A long base64url run (a key, a seed, a code): kept only when it cannot be random (no upper case, or short hex).
  String.raw`(?<blob>(?<![A-Za-z0-9_-])[A-Za-z0-9_-]{43,}(?![A-Za-z0-9_-]))`,
];

const known = new Set<string>();
let pattern = compile();

function compile(): RegExp {
  const literals = [...known].sort((a, b) => b.length - a.length).map(escapeRegex);
  return new RegExp([...(literals.length > 0 ? [`(?<literal>${literals.join('|')})`] : []), ...SHAPES].join('|'), 'g');
}

/**
 * A secret the broker holds whose shape says nothing (ADMIN_TOKEN, the metrics token, mail
 * credentials): its literal value is scrubbed from every later message. Values under 8 characters
 * are ignored (they would scrub ordinary words).
 */
export function registerSecret(value: string | undefined | null): void {
  if (!value || value.length < 8 || known.has(value)) return;
  known.add(value);
  pattern = compile();
}

interface Groups {
  literal?: string;
  apikey?: string;
  auth?: string;
  invite?: string;
  blob?: string;
}

function replace(match: string, ...args: unknown[]): string {
  const groups = args.at(-1) as Groups;
  if (groups.apikey !== undefined) {
    if (match.endsWith(REDACTED)) return match;
    const id = /^cmk_([a-z0-9]{16})_/i.exec(match);
    return id ? `cmk_${id[1]}_${REDACTED}` : `cmk_${REDACTED}`;
  }
  if (groups.auth !== undefined) return `${match.split(/\s+/)[0]} ${REDACTED}`;
  // Hyphenated lower-case words (`read-only-mode-here`) are not codes: a code in lower case has a digit.
  if (groups.invite !== undefined) return /[0-9]/.test(match) || !/[a-z]/.test(match) ? REDACTED : match;
  if (groups.blob !== undefined) {
    // No upper-case letter: not random base64url (43 random characters hold one but for ~1 in 10^9).
    // Hex up to 64 characters is a public key or a hash; longer hex could be a secret key.
    const hex = /^[0-9a-f]+$/.test(match);
    if (hex ? match.length <= 64 : !/[A-Z]/.test(match)) return match;
    return REDACTED;
  }
  return REDACTED;
}

/** The text with every secret-shaped part replaced by `[redacted]`. */
export function scrubSecrets(text: string): string {
  pattern.lastIndex = 0;
  return text.replace(pattern, replace);
}
