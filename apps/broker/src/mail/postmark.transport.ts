import { MailTransportError, type MailTransport, type OutgoingMail } from './mail.transport.js';

interface PostmarkReply {
  ErrorCode?: unknown;
  Message?: unknown;
  MessageID?: unknown;
}

/**
 * Postmark's HTTP API: POST <base>/email with the server token, a JSON body of From, To, Subject,
 * HtmlBody, TextBody and MessageStream; the reply's ErrorCode is 0 on success. An HTTP error status
 * or a non-zero ErrorCode is a failure. The base URL is configurable so tests can run a local fake.
 */
export class PostmarkTransport implements MailTransport {
  readonly name = 'postmark';

  constructor(
    private readonly opts: { token: string; url: string; stream: string },
  ) {}

  async send(mail: OutgoingMail): Promise<{ messageId: string }> {
    let res: Response;
    try {
      res = await fetch(`${this.opts.url}/email`, {
        method: 'POST',
        headers: { accept: 'application/json', 'content-type': 'application/json', 'x-postmark-server-token': this.opts.token },
        body: JSON.stringify({ From: mail.from, To: mail.to, Subject: mail.subject, HtmlBody: mail.html, TextBody: mail.text, MessageStream: this.opts.stream }),
        signal: AbortSignal.timeout(20_000),
      });
    } catch (error) {
      const cause = (error as { cause?: { code?: string } }).cause?.code;
      throw new MailTransportError(`Postmark: cannot reach ${this.opts.url} (${cause ?? (error as Error).message})`);
    }
    const text = await res.text();
    let reply: PostmarkReply = {};
    try {
      reply = JSON.parse(text) as PostmarkReply;
    } catch {
      // an HTML error page from a proxy: the status says enough
    }
    const code = typeof reply.ErrorCode === 'number' ? reply.ErrorCode : undefined;
    if (!res.ok || code !== 0) {
      const message = typeof reply.Message === 'string' ? reply.Message : text.slice(0, 200);
      throw new MailTransportError(`Postmark: HTTP ${res.status}${code !== undefined ? `, ErrorCode ${code}` : ''}: ${message}`);
    }
    return { messageId: typeof reply.MessageID === 'string' ? reply.MessageID : '' };
  }

  async close(): Promise<void> {}
}
