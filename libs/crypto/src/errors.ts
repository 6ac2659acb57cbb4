/** Stable codes: callers branch on `code`, never on the message text. */
export type CryptoErrorCode =
  | 'E_NOT_READY'
  | 'E_ENCODING'
  | 'E_KEY_INVALID'
  | 'E_DECRYPT'
  | 'E_IDENTITY_INVALID'
  | 'E_FIELD_INVALID'
  | 'E_INVITE_INVALID'
  | 'E_INVITE_EXPIRED'
  | 'E_PASSPHRASE_WEAK'
  | 'E_BACKUP_NOT_BACKUP'
  | 'E_BACKUP_UNSUPPORTED'
  | 'E_BACKUP_CORRUPTED'
  | 'E_BACKUP_DECRYPT'
  | 'E_BAD_SIGNATURE'
  | 'E_MANIFEST_INVALID'
  | 'E_MANIFEST_CHAIN'
  | 'E_MANIFEST_UNAUTHORIZED'
  | 'E_SEAL_UNAUTHORIZED'
  | 'E_SEAL_MISMATCH'
  | 'E_SENDER_UNAUTHORIZED';

export class CryptoError extends Error {
  override readonly name = 'CryptoError';

  constructor(
    readonly code: CryptoErrorCode,
    message: string,
  ) {
    super(`${code}: ${message}`);
  }
}

export function isCryptoError(err: unknown, code?: CryptoErrorCode): err is CryptoError {
  return err instanceof CryptoError && (code === undefined || err.code === code);
}
