import { describe, expect, it } from 'vitest';
import { DEFAULT_EPOCH_ROTATION, scheduledRotationDue } from './epoch-use.js';

describe('scheduledRotationDue', () => {
  const day = 24 * 3600_000;
  const accepted = Date.UTC(2026, 0, 1);

  it('is due at the message bound or the age bound, whichever comes first (defaults 100 messages, 7 days)', () => {
    expect(DEFAULT_EPOCH_ROTATION).toEqual({ messages: 100, afterMs: 7 * day });
    expect(scheduledRotationDue(DEFAULT_EPOCH_ROTATION, 99, accepted, accepted + 7 * day - 1)).toBe(false);
    expect(scheduledRotationDue(DEFAULT_EPOCH_ROTATION, 100, accepted, accepted)).toBe(true);
    expect(scheduledRotationDue(DEFAULT_EPOCH_ROTATION, 0, accepted, accepted + 7 * day)).toBe(true);
  });

  it('treats 0 as no bound', () => {
    expect(scheduledRotationDue({ messages: 0, afterMs: 0 }, 1_000_000, accepted, accepted + 3650 * day)).toBe(false);
    expect(scheduledRotationDue({ messages: 0, afterMs: day }, 1_000_000, accepted, accepted + day - 1)).toBe(false);
    expect(scheduledRotationDue({ messages: 5, afterMs: 0 }, 5, accepted, accepted)).toBe(true);
  });
});
