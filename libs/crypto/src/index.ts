export { CryptoError, isCryptoError, type CryptoErrorCode } from './errors.js';
export { cryptoReady } from './sodium.js';
export {
  toHex, fromHex, toB64u, fromB64u, utf8Encode, utf8Decode, isPublicKeyHex, isWellFormedString,
} from './encoding.js';
export { sha256, sha256Hex, sha512 } from './hash.js';
export { randomBytes, randomId } from './random.js';
export { hkdfSha256, hmacSha256 } from './hkdf.js';
export {
  generateIdentity, identityFromSeed, deriveIdentity, serializeIdentity, parseIdentity, edPublicToBoxPublic,
  SEED_BYTES, IDENTITY_INFO_PREFIX, type Identity, type SerializedIdentity,
} from './identity.js';
export { sign, verify } from './signing.js';
export { canonicalJson } from './canonical-json.js';
export {
  DOMAIN, helloString, sessionAttestationString, joinString, meshCreateString, requestString,
  inviteSignedString, shortInviteString, shortInviteClaimString, emailInviteString, emailInviteClaimString, keyHandoffString,
  epochManifestString, epochSealString, epochHistorySealString, epochMessageString, type EpochSealFields, type EpochHistorySealFields, type EpochMessageFields,
  type EmailInviteFields, type KeyHandoffFields, type Domain, type HelloFields,
  type SessionAttestationFields, type JoinFields, type MeshCreateFields, type RequestFields, type ShortInviteFields,
  type ShortInviteClaimFields, identityClaimString, type IdentityClaimFields,
} from './signed-strings.js';
export type { Sealed } from './sealed.js';
export { BoxKeyCache, boxEncrypt, boxDecrypt, boxDecryptText } from './box.js';
export { generateMeshKey, secretboxEncrypt, secretboxDecrypt, secretboxDecryptText } from './secretbox.js';
export { sealTo, sealOpen } from './seal.js';
export {
  createInvite, verifyInviteSignature, checkInvite, encodeInviteLink, encodeInviteHttpsLink, parseInviteLink,
  validateInvitePayload, INVITE_LINK_PREFIX, DEFAULT_INVITE_TTL_MS,
  type InvitePayload, type InviteRole, type SignedInvite, type CreateInviteOptions, type InviteCheck,
} from './invite.js';
export {
  generateInviteCode, normalizeInviteCode, formatInviteCode, encodeShortInviteLink, isShortInviteLink, parseShortInviteLink,
  deriveInviteLookup, deriveInviteWrapKey, wrapMeshKey, unwrapMeshKey, createShortInvite, verifyShortInviteSignature,
  openShortInvite, INVITE_CODE_ALPHABET, INVITE_CODE_LENGTH, INVITE_CODE_BYTES, SHORT_INVITE_PATH,
  type ShortInviteRecord, type CreateShortInviteOptions,
} from './short-invite.js';
export {
  createEmailInvite, verifyEmailInviteSignature, deriveEmailInviteLookup, formatEmailInviteCode, parseEmailInviteCode,
  encodeEmailInviteLink, isEmailInviteLink, parseEmailInviteLink, createKeyHandoff, verifyKeyHandoffSignature, openKeyHandoff,
  EMAIL_INVITE_PATH, EMAIL_CODE_PREFIX, type EmailInviteRecord, type CreateEmailInviteOptions, type KeyHandoff, type KeyHandoffTarget,
} from './email-invite.js';
export { safetyNumber } from './safety-number.js';
export {
  encryptBackup, decryptBackup, readBackupHeader, checkBackupPassphrase, backupKdfParams, BACKUP_MAGIC, BACKUP_VERSION,
  BACKUP_KDF_ARGON2ID13, BACKUP_HEADER_BYTES, BACKUP_MIN_PASSPHRASE_CHARS, BACKUP_MAX_OPSLIMIT, BACKUP_MAX_MEMLIMIT,
  type BackupKdfParams, type BackupHeader,
} from './backup.js';
export { deriveStateKey, stateAssociatedData, stateEncrypt, stateDecrypt, STATE_KEY_INFO, type StateSlot } from './state.js';
export {
  EPOCH_REASONS, type EpochReason, type KnownEpochReason, type EpochManifest, type SignedEpochManifest, type EpochSeal, type EpochHistorySeal, type EpochMessage,
  type EpochContext, type ManifestCheck,
} from './epoch-types.js';
export {
  validateEpochManifest, manifestHash, signManifest, verifyManifest, verifyManifestChain, topicScope, isEpochScope,
  MESH_SCOPE, TOPIC_SCOPE_PREFIX, MAX_EPOCH, MAX_EPOCH_MEMBERS, type VerifyManifestOptions,
} from './epoch-manifest.js';
export { generateEpochKey, epochKeyCommitment, deriveEpochMessageKey, epochContext, EPOCH_KEY_BYTES } from './epoch-key.js';
export { sealEpochKey, openEpochSeal, type OpenEpochSealOptions } from './epoch-seal.js';
export { sealHistoryKey, openHistorySeal, type OpenHistorySealOptions, type VerifiedEpoch } from './epoch-history.js';
export {
  encryptEpochMessage, decryptEpochMessage, decryptEpochMessageText, epochMessageAssociatedData, verifyEpochMessageSignature,
  type EncryptEpochMessageOptions, type DecryptEpochMessageOptions,
} from './epoch-message.js';
export { firstEpoch, nextEpoch, type NewEpoch, type EpochFields, type FirstEpochOptions, type NextEpochOptions } from './epoch-rotation.js';
