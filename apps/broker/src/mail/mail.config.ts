import { z } from 'zod';

/** The broker's mail settings, part of its env schema (apps/broker/src/config/broker.config.ts). */
export const MAIL_ENV = {
  /** Which transport sends email invites; `off` (the default) makes the email-invite route answer E_MAIL_DISABLED. */
  CLAUDEMESH_MAIL: z.enum(['smtp', 'postmark', 'log', 'off']).default('off'),
  CLAUDEMESH_SMTP_URL: z.string().regex(/^smtps?:\/\/[^\s]+$/, 'expected smtp://user:pass@host:port (or smtps://…)').optional(),
  CLAUDEMESH_POSTMARK_TOKEN: z.string().min(1).optional(),
  CLAUDEMESH_POSTMARK_URL: z.string().regex(/^https?:\/\/[^\s]+$/, 'expected an http(s) URL').default('https://api.postmarkapp.com'),
  CLAUDEMESH_POSTMARK_STREAM: z.string().min(1).default('outbound'),
  CLAUDEMESH_MAIL_FROM: z.string().min(3).regex(/^[^\r\n]+$/, 'one line, e.g. claudemesh <mesh@example.com>').optional(),
  /** Email invites one mesh may send per rolling hour. */
  CLAUDEMESH_EMAIL_INVITES_PER_HOUR: z.coerce.number().int().min(1).max(100_000).default(20),
};

type MailEnv = z.output<z.ZodObject<typeof MAIL_ENV>>;

export type MailTransportConfig =
  | { kind: 'off' }
  | { kind: 'log'; from: string }
  | { kind: 'smtp'; url: string; from: string }
  | { kind: 'postmark'; token: string; url: string; stream: string; from: string };

export interface MailSettings {
  transport: MailTransportConfig;
  invitesPerHour: number;
}

/** The variables each transport needs, named in the error so an operator knows what to set. */
export function mailSettingsOf(e: MailEnv): MailSettings {
  const missing = (name: string): never => {
    throw new Error(`invalid broker configuration:\n  ${name}: required when CLAUDEMESH_MAIL=${e.CLAUDEMESH_MAIL}`);
  };
  const from = (): string => e.CLAUDEMESH_MAIL_FROM ?? missing('CLAUDEMESH_MAIL_FROM');
  const invitesPerHour = e.CLAUDEMESH_EMAIL_INVITES_PER_HOUR;
  switch (e.CLAUDEMESH_MAIL) {
    case 'off':
      return { transport: { kind: 'off' }, invitesPerHour };
    case 'log':
      return { transport: { kind: 'log', from: e.CLAUDEMESH_MAIL_FROM ?? 'claudemesh <claudemesh@localhost>' }, invitesPerHour };
    case 'smtp':
      return { transport: { kind: 'smtp', url: e.CLAUDEMESH_SMTP_URL ?? missing('CLAUDEMESH_SMTP_URL'), from: from() }, invitesPerHour };
    case 'postmark':
      return {
        transport: { kind: 'postmark', token: e.CLAUDEMESH_POSTMARK_TOKEN ?? missing('CLAUDEMESH_POSTMARK_TOKEN'), url: e.CLAUDEMESH_POSTMARK_URL.replace(/\/$/, ''), stream: e.CLAUDEMESH_POSTMARK_STREAM, from: from() },
        invitesPerHour,
      };
  }
}

export const MAIL_DISABLED_HINT =
  'this broker sends no mail: set CLAUDEMESH_MAIL=smtp with CLAUDEMESH_SMTP_URL and CLAUDEMESH_MAIL_FROM, or CLAUDEMESH_MAIL=postmark with CLAUDEMESH_POSTMARK_TOKEN and CLAUDEMESH_MAIL_FROM, then restart the broker';
