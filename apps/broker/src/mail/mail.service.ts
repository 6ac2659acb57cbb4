import { Inject, Injectable, Logger, type OnModuleDestroy } from '@nestjs/common';
import { ProtocolError } from '@claudemesh/core';
import { BROKER_CONFIG, type BrokerConfig } from '../config/broker.config.js';
import { currentLogger } from '../logging/broker-logger.js';
import { MAIL_DISABLED_HINT, type MailSettings } from './mail.config.js';
import { MailTransportError, type MailTransport, type OutgoingMail } from './mail.transport.js';
import { PostmarkTransport } from './postmark.transport.js';
import { SmtpTransport } from './smtp.transport.js';

/**
 * CLAUDEMESH_MAIL=log: for development only — the mail, code included, goes to the broker's log.
 * The one log line that is not scrubbed of secrets (logging/redact.ts): showing the code is its job.
 */
class LogTransport implements MailTransport {
  readonly name = 'log';
  private readonly logger = new Logger('Mail');

  async send(mail: OutgoingMail): Promise<{ messageId: string }> {
    const line = `(CLAUDEMESH_MAIL=log, not sent) to ${mail.to}: ${mail.subject}\n${mail.text}`;
    const broker = currentLogger();
    if (broker) broker.unredacted('warn', 'Mail', line);
    else this.logger.warn(line);
    return { messageId: `log-${Date.now()}` };
  }

  async close(): Promise<void> {}
}

/** The broker's one way out to email, chosen by CLAUDEMESH_MAIL. Failures are E_MAIL_FAILED, a missing transport E_MAIL_DISABLED. */
@Injectable()
export class MailService implements OnModuleDestroy {
  readonly settings: MailSettings;
  private readonly transport: MailTransport | null;
  private readonly logger = new Logger('Mail');

  constructor(@Inject(BROKER_CONFIG) config: BrokerConfig) {
    this.settings = config.mail ?? { transport: { kind: 'off' }, invitesPerHour: 20 };
    const t = this.settings.transport;
    this.transport = t.kind === 'smtp' ? new SmtpTransport(t.url) : t.kind === 'postmark' ? new PostmarkTransport(t) : t.kind === 'log' ? new LogTransport() : null;
  }

  get enabled(): boolean {
    return this.transport !== null;
  }

  requireEnabled(): void {
    if (!this.transport) throw new ProtocolError('E_MAIL_DISABLED', MAIL_DISABLED_HINT);
  }

  async send(mail: Omit<OutgoingMail, 'from'>): Promise<{ messageId: string }> {
    this.requireEnabled();
    const t = this.settings.transport as Exclude<MailSettings['transport'], { kind: 'off' }>;
    try {
      return await this.transport!.send({ ...mail, from: t.from });
    } catch (error) {
      const why = error instanceof MailTransportError ? error.message : `${this.transport!.name}: ${(error as Error).message}`;
      this.logger.warn(`mail to ${mail.to} failed: ${why}`);
      throw new ProtocolError('E_MAIL_FAILED', `the mail was not sent (${why}); the invite was not kept — check the broker's mail settings and retry`);
    }
  }

  async onModuleDestroy(): Promise<void> {
    await this.transport?.close();
  }
}
