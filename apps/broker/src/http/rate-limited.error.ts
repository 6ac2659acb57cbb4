import { ProtocolError } from '@claudemesh/core';

/** E_RATE_LIMITED with when to retry: the REST edge sends `Retry-After` and `error.retry_after_ms`. */
export class RateLimitedError extends ProtocolError {
  constructor(
    message: string,
    readonly retryAfterMs: number,
  ) {
    super('E_RATE_LIMITED', message);
  }
}
