/** One message as every transport sends it: a single recipient, an HTML and a plain-text body. */
export interface OutgoingMail {
  from: string;
  to: string;
  subject: string;
  text: string;
  html: string;
}

export interface MailTransport {
  readonly name: string;
  /** Resolves once the transport accepted the message; rejects with a MailTransportError otherwise. */
  send(mail: OutgoingMail): Promise<{ messageId: string }>;
  close(): Promise<void>;
}

/** A transport's refusal, in words an operator can act on (never the credentials). */
export class MailTransportError extends Error {}
