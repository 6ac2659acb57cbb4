import nodemailer from 'nodemailer';
import { MailTransportError, type MailTransport, type OutgoingMail } from './mail.transport.js';

/** SMTP through nodemailer: CLAUDEMESH_SMTP_URL = smtp://user:pass@host:port (query options such as ?secure=true pass through). */
export class SmtpTransport implements MailTransport {
  readonly name = 'smtp';
  private readonly transporter: ReturnType<typeof nodemailer.createTransport>;

  constructor(url: string) {
    // A mail server that hangs must not hold the admin's request for nodemailer's default two minutes.
    this.transporter = nodemailer.createTransport({ url, connectionTimeout: 10_000, greetingTimeout: 10_000, socketTimeout: 20_000 });
  }

  async send(mail: OutgoingMail): Promise<{ messageId: string }> {
    let info: { messageId?: string; accepted?: unknown[]; rejected?: unknown[] };
    try {
      info = (await this.transporter.sendMail(mail)) as typeof info;
    } catch (error) {
      const e = error as { code?: string; responseCode?: number; message?: string };
      throw new MailTransportError(`SMTP: ${e.responseCode ? `${e.responseCode} ` : ''}${e.code ? `${e.code} ` : ''}${(e.message ?? String(error)).split('\n')[0]}`);
    }
    if ((info.rejected ?? []).length > 0 || (info.accepted ?? []).length === 0) throw new MailTransportError('SMTP: the server did not accept the recipient');
    return { messageId: info.messageId ?? '' };
  }

  async close(): Promise<void> {
    this.transporter.close();
  }
}
