/**
 * Where test brokers send their email invites: a real SMTP server (smtp-server) that keeps what it
 * receives, and a local fake of Postmark's HTTP API that checks what Postmark checks. Plus a small
 * MIME reader, so a test gets the link and the code out of a mail the way a mail client shows it.
 */
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { SMTPServer } from 'smtp-server';

export interface ReceivedMail {
  from: string;
  to: string[];
  raw: string;
  subject: string;
  text: string;
  html: string;
}

export interface SmtpSink {
  url: string;
  mails: ReceivedMail[];
  close(): Promise<void>;
}

/** An SMTP server on 127.0.0.1 that wants user/pass, refuses recipients starting with `reject`, and keeps every mail. */
export async function startSmtpSink(user = 'mesh', pass = 'secret-pass'): Promise<SmtpSink> {
  const mails: ReceivedMail[] = [];
  const server = new SMTPServer({
    disabledCommands: ['STARTTLS'],
    allowInsecureAuth: true,
    logger: false,
    onAuth(auth, _session, cb) {
      if (auth.username === user && auth.password === pass) cb(null, { user });
      else cb(new Error('535 bad credentials'));
    },
    onRcptTo(address, _session, cb) {
      if (address.address.startsWith('reject')) cb(Object.assign(new Error('550 no such mailbox'), { responseCode: 550 }));
      else cb();
    },
    onData(stream, session, cb) {
      const chunks: Buffer[] = [];
      stream.on('data', (c: Buffer) => chunks.push(c));
      stream.on('end', () => {
        const raw = Buffer.concat(chunks).toString('utf8');
        const from = session.envelope.mailFrom ? session.envelope.mailFrom.address : '';
        mails.push({ from, to: session.envelope.rcptTo.map((r) => r.address), raw, ...readMime(raw) });
        cb();
      });
    },
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.server.address() as AddressInfo;
  return {
    url: `smtp://${user}:${pass}@127.0.0.1:${port}`,
    mails,
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

export interface PostmarkCall {
  headers: IncomingMessage['headers'];
  body: Record<string, unknown>;
}

export interface FakePostmark {
  url: string;
  token: string;
  calls: PostmarkCall[];
  /** What the next requests get: ok, or Postmark's ErrorCode 300 "Invalid email request" (HTTP 422). */
  mode: 'ok' | 'invalid-request';
  close(): Promise<void>;
}

/**
 * POST /email as Postmark documents it: X-Postmark-Server-Token (else 401, ErrorCode 10), JSON in
 * and out, From/To/Subject/HtmlBody/TextBody/MessageStream; the reply carries ErrorCode 0, Message,
 * MessageID, SubmittedAt and To.
 */
export async function startFakePostmark(token = 'pm-server-token-1234'): Promise<FakePostmark> {
  const fake: FakePostmark = { url: '', token, calls: [], mode: 'ok', close: async () => undefined };
  const server: Server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const reply = (status: number, body: unknown) => {
        res.writeHead(status, { 'content-type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (req.method !== 'POST' || req.url !== '/email') return reply(404, { ErrorCode: 404, Message: 'not found' });
      if (req.headers['x-postmark-server-token'] !== token) return reply(401, { ErrorCode: 10, Message: 'Bad or missing Server API token.' });
      if (req.headers['accept'] !== 'application/json' || !String(req.headers['content-type']).startsWith('application/json')) {
        return reply(415, { ErrorCode: 409, Message: 'JSON required' });
      }
      let body: Record<string, unknown>;
      try {
        body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as Record<string, unknown>;
      } catch {
        return reply(400, { ErrorCode: 402, Message: 'Invalid JSON' });
      }
      fake.calls.push({ headers: req.headers, body });
      if (fake.mode === 'invalid-request') return reply(422, { ErrorCode: 300, Message: 'Invalid email request' });
      for (const field of ['From', 'To', 'Subject', 'HtmlBody', 'TextBody', 'MessageStream']) {
        if (typeof body[field] !== 'string' || body[field] === '') return reply(422, { ErrorCode: 300, Message: `Invalid email request: ${field}` });
      }
      return reply(200, { To: body['To'], SubmittedAt: new Date().toISOString(), MessageID: `fake-${fake.calls.length}`, ErrorCode: 0, Message: 'OK' });
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  fake.close = () => new Promise<void>((resolve) => server.close(() => resolve()));
  return fake;
}

/** The link and the code a received invite mail shows (plain-text part). */
export function inviteOf(text: string): { link: string; code: string } {
  const link = /(https?:\/\/\S+\/e\/[A-Z0-9-]+\?issuer=[0-9a-f]{64})/.exec(text)?.[1];
  const code = /Code: (E-[A-Z0-9-]{19})/.exec(text)?.[1];
  if (!link || !code) throw new Error(`no invite link or code in the mail:\n${text}`);
  return { link, code };
}

function decodeQuotedPrintable(s: string): string {
  const bytes: number[] = [];
  const soft = s.replace(/=\r?\n/g, '');
  for (let i = 0; i < soft.length; i++) {
    if (soft[i] === '=' && /^[0-9A-F]{2}$/i.test(soft.slice(i + 1, i + 3))) {
      bytes.push(parseInt(soft.slice(i + 1, i + 3), 16));
      i += 2;
    } else bytes.push(...Buffer.from(soft[i]!, 'utf8'));
  }
  return Buffer.from(bytes).toString('utf8');
}

function decodeBody(body: string, encoding: string): string {
  if (encoding === 'base64') return Buffer.from(body.replace(/\s+/g, ''), 'base64').toString('utf8');
  if (encoding === 'quoted-printable') return decodeQuotedPrintable(body);
  return body;
}

/** RFC 2047 words in a header (`=?UTF-8?Q?…?=`, `=?UTF-8?B?…?=`). */
function decodeWords(value: string): string {
  return value.replace(/\?=\s+=\?/g, '?==?').replace(/=\?utf-8\?([QB])\?([^?]*)\?=/gi, (_, kind: string, data: string) =>
    kind.toUpperCase() === 'B' ? Buffer.from(data, 'base64').toString('utf8') : decodeQuotedPrintable(data.replace(/_/g, ' ')),
  );
}

function split(part: string): { headers: Record<string, string>; body: string } {
  const at = part.search(/\r?\n\r?\n/);
  const head = at < 0 ? part : part.slice(0, at);
  const body = at < 0 ? '' : part.slice(at).replace(/^\r?\n\r?\n/, '');
  const headers: Record<string, string> = {};
  for (const line of head.replace(/\r?\n[ \t]+/g, ' ').split(/\r?\n/)) {
    const colon = line.indexOf(':');
    if (colon > 0) headers[line.slice(0, colon).trim().toLowerCase()] = line.slice(colon + 1).trim();
  }
  return { headers, body };
}

/** Subject, text and HTML of a single-part or multipart/alternative message. */
export function readMime(raw: string): { subject: string; text: string; html: string } {
  const top = split(raw);
  const out = { subject: decodeWords(top.headers['subject'] ?? ''), text: '', html: '' };
  const type = top.headers['content-type'] ?? 'text/plain';
  const boundary = /boundary="?([^";]+)"?/i.exec(type)?.[1];
  const parts = boundary ? top.body.split(`--${boundary}`).slice(1, -1).map(split) : [top];
  for (const p of parts) {
    const ct = (p.headers['content-type'] ?? type).toLowerCase();
    const decoded = decodeBody(p.body, (p.headers['content-transfer-encoding'] ?? '7bit').toLowerCase());
    if (ct.startsWith('text/plain')) out.text = decoded;
    else if (ct.startsWith('text/html')) out.html = decoded;
  }
  return out;
}
