/**
 * The frozen wire error-code table (protocol v1). Codes are stable strings: clients switch on them,
 * so a code is never renamed or re-purposed; new codes are only appended.
 * `http` is the status used at REST edges; `fatal` means the WebSocket is closed after the error frame.
 */
export const ERROR_CODES = Object.freeze({
  E_BAD_FRAME: { http: 400, fatal: false, description: 'The frame is not UTF-8 JSON, not a JSON object, or repeats a key.' },
  E_UNKNOWN_TYPE: { http: 400, fatal: false, description: 'The frame type is not part of protocol v1.' },
  E_SCHEMA: { http: 400, fatal: false, description: 'The frame or body does not match its schema.' },
  E_TOO_LARGE: { http: 413, fatal: false, description: 'The frame or body exceeds the size limit.' },
  E_NOT_AUTHENTICATED: { http: 401, fatal: false, description: 'This frame needs a completed hello first.' },
  E_ALREADY_AUTHENTICATED: { http: 409, fatal: false, description: 'The connection already completed hello.' },
  E_UNAUTHORIZED: { http: 401, fatal: false, description: 'Missing or malformed request signature.' },
  E_BAD_SIGNATURE: { http: 401, fatal: true, description: 'A signature does not verify.' },
  E_STALE_TIMESTAMP: { http: 401, fatal: true, description: 'The signed timestamp is outside the allowed skew.' },
  E_REPLAY: { http: 401, fatal: true, description: 'The nonce is not the challenge issued to this connection, or a signed REST request was already accepted.' },
  E_SESSION_EXPIRED: { http: 401, fatal: true, description: 'The session attestation has expired, or expires more than 30 days ahead.' },
  E_UNKNOWN_MESH: { http: 404, fatal: true, description: 'No mesh with this id on this broker.' },
  E_NOT_MEMBER: { http: 403, fatal: true, description: 'The key is not a member of the mesh.' },
  E_REVOKED: { http: 403, fatal: true, description: 'The member has been revoked.' },
  E_FORBIDDEN: { http: 403, fatal: false, description: 'The member may not do this.' },
  E_UNKNOWN_TARGET: { http: 404, fatal: false, description: 'No member, session or group matches the target.' },
  E_NOT_FOUND: { http: 404, fatal: false, description: 'The referenced object does not exist.' },
  E_INVITE_INVALID: { http: 400, fatal: false, description: 'The invite is malformed or its signature does not verify.' },
  E_INVITE_EXPIRED: { http: 410, fatal: false, description: 'The invite has expired.' },
  E_INVITE_EXHAUSTED: { http: 410, fatal: false, description: 'The invite has no uses left.' },
  E_INVITE_REVOKED: { http: 410, fatal: false, description: 'The invite has been revoked.' },
  E_NAME_TAKEN: { http: 409, fatal: false, description: 'Another member of the mesh uses this display name.' },
  E_CONFLICT: { http: 409, fatal: false, description: 'The object already exists with different content.' },
  E_RATE_LIMITED: { http: 429, fatal: false, description: 'Too many requests; retry later.' },
  E_SLOW_CONSUMER: { http: 503, fatal: true, description: 'The connection did not read fast enough; queued messages wait in the broker.' },
  E_UNAVAILABLE: { http: 503, fatal: false, description: 'The broker cannot reach its database; retry with the same id.' },
  E_INTERNAL: { http: 500, fatal: false, description: 'Unexpected broker error.' },
  E_INVITE_NOT_FOUND: { http: 404, fatal: false, description: 'No invite matches this code (a typo, or another broker).' },
  E_MAIL_DISABLED: { http: 503, fatal: false, description: 'This broker sends no mail (CLAUDEMESH_MAIL is off); email invites are unavailable.' },
  E_MAIL_FAILED: { http: 502, fatal: false, description: 'The mail transport did not accept the message; the invite was not kept.' },
  E_QUEUE_FULL: { http: 429, fatal: false, description: "The recipient's offline queue is full; nothing was stored for it." },
  E_EPOCH_INVALID: { http: 400, fatal: false, description: 'An epoch manifest or seal does not verify (signature, chain, mesh or members); nothing was stored.' },
  E_EPOCH_CONFLICT: { http: 409, fatal: false, description: 'The epoch does not follow the current epoch of its scope (another was published first); build on current_epoch and publish again.' },
  E_EPOCH_STALE: { http: 409, fatal: false, description: "The message is not under its scope's current epoch (0: none yet); sync to current_epoch (or create epoch 1), encrypt again and resend." },
  E_EPOCH_REQUIRED: { http: 409, fatal: false, description: 'The mesh scope has a key epoch: @group and * messages must be body_version 2 under its current epoch (current_epoch); the mesh key no longer carries them.' },
  E_TOPIC_MODE: { http: 400, fatal: false, description: 'The body version does not match the topic: an e2e topic takes body_version 2 only, a plaintext topic body_version 1 only.' },
  E_MESSAGE_INVALID: { http: 400, fatal: false, description: "A body_version 2 message is not signed by its sender for this mesh, scope, epoch and id, or its sender is not in the epoch; nothing was stored." },
} as const);

export type ErrorCode = keyof typeof ERROR_CODES;
export const ERROR_CODE_LIST = Object.freeze(Object.keys(ERROR_CODES) as ErrorCode[]);

export function isErrorCode(value: unknown): value is ErrorCode {
  return typeof value === 'string' && Object.hasOwn(ERROR_CODES, value);
}

/**
 * Why a current epoch must be rotated before the next send (docs/protocol.md §5.6 "Rotation"):
 * listed members who were revoked or left (`departed`), eligible members it does not list
 * (`joined`), and the manifest reason the next epoch takes (`scheduled`: the epoch carried its
 * messages or reached its age, both lists empty).
 */
export interface EpochRotateDetails {
  reason: 'member_removed' | 'member_left' | 'member_added' | 'scheduled';
  departed: string[];
  joined: string[];
  /** A topic whose history is `shared`: the rotation also seals the joiners the earlier epochs (docs/crypto.md "Shared history"). */
  share_history?: true;
}

/** What an error frame (or REST error body) carries beside code and message for some codes. */
export interface ErrorDetails {
  current_epoch?: number;
  rotate?: EpochRotateDetails;
}

/** A wire error raised inside the broker or SDK; edges turn it into an `error` frame or HTTP body. */
export class ProtocolError extends Error {
  constructor(
    readonly code: ErrorCode,
    message: string = ERROR_CODES[code].description,
    /**
     * With E_EPOCH_CONFLICT, E_EPOCH_STALE and E_EPOCH_REQUIRED: the scope's current epoch, sent beside the code; with
     * E_EPOCH_STALE also `rotate` when that epoch lists the wrong members (rotate before sending).
     */
    readonly details: ErrorDetails = {},
  ) {
    super(message);
    this.name = 'ProtocolError';
  }

  get fatal(): boolean {
    return ERROR_CODES[this.code].fatal;
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].http;
  }
}
