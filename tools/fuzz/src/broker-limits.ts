/**
 * The fuzzed broker runs with every limit on, the rate and pre-hello ones raised: the lanes
 * pipeline hundreds of frames a second and the unauthenticated ones send thousands before any
 * hello, which the defaults would rightly answer with E_RATE_LIMITED or a close that no frame's
 * expected reply predicts. The outbound budget, the in-flight bound, the commit byte cap and the
 * offline-queue quota stay at their defaults (a reading client never meets them).
 */
export const FUZZ_BROKER_LIMITS: Readonly<Record<string, string>> = Object.freeze({
  CLAUDEMESH_WS_PREAUTH_PER_IP: '100000',
  CLAUDEMESH_WS_PREAUTH_FRAMES: '10000000',
  CLAUDEMESH_WS_PREAUTH_BYTES: String(2 ** 31),
  CLAUDEMESH_WS_CONN_FRAMES_PER_S: '1000000',
  CLAUDEMESH_WS_CONN_BYTES_PER_S: String(2 ** 36),
  CLAUDEMESH_WS_CONN_COSTLY_PER_S: '1000000',
  CLAUDEMESH_WS_MEMBER_FRAMES_PER_S: '1000000',
  CLAUDEMESH_WS_MEMBER_BYTES_PER_S: String(2 ** 36),
  CLAUDEMESH_WS_MEMBER_COSTLY_PER_S: '1000000',
});
