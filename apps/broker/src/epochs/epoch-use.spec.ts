import { describe, expect, it } from 'vitest';
import { DEFAULT_EPOCH_ROTATION, epochDue, scheduledRotationDue } from './epoch-use.js';

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

describe('epochDue', () => {
  const day = 24 * 3600_000;
  const accepted = 1_700_000_000_000;

  it('hints through the last fifth of the message bound and the last tenth of the age bound, never before', () => {
    const due = accepted + 7 * day;
    expect(epochDue(DEFAULT_EPOCH_ROTATION, 3, 79, accepted, accepted)).toBeNull();
    expect(epochDue(DEFAULT_EPOCH_ROTATION, 3, 80, accepted, accepted)).toEqual({ epoch: 3, remaining_messages: 20, due_at: due });
    // At each quarter of the last fifth, not on every message of it.
    const hinted = Array.from({ length: 21 }, (_, i) => 80 + i).filter((sent) => epochDue(DEFAULT_EPOCH_ROTATION, 3, sent, accepted, accepted) !== null);
    expect(hinted).toEqual([80, 85, 90, 95, 100]);
    expect(epochDue(DEFAULT_EPOCH_ROTATION, 3, 100, accepted, accepted)).toEqual({ epoch: 3, remaining_messages: 0, due_at: due });
    expect(epochDue(DEFAULT_EPOCH_ROTATION, 3, 130, accepted, accepted)?.remaining_messages).toBe(0);
    expect(epochDue(DEFAULT_EPOCH_ROTATION, 3, 1, accepted, due - 0.7 * day - 1)).toBeNull();
    expect(epochDue(DEFAULT_EPOCH_ROTATION, 3, 1, accepted, due - 0.7 * day)).toEqual({ epoch: 3, remaining_messages: 99, due_at: due });
  });

  it('says null for a bound that is off, and hints at least one message ahead of a tiny bound', () => {
    expect(epochDue({ messages: 0, afterMs: 0 }, 1, 1_000_000, accepted, accepted + 3650 * day)).toBeNull();
    expect(epochDue({ messages: 0, afterMs: day }, 1, 5, accepted, accepted + day)).toEqual({ epoch: 1, remaining_messages: null, due_at: accepted + day });
    expect(epochDue({ messages: 2, afterMs: 0 }, 1, 1, accepted, accepted)).toEqual({ epoch: 1, remaining_messages: 1, due_at: null });
    expect(epochDue({ messages: 3, afterMs: 0 }, 1, 1, accepted, accepted)).toBeNull();
  });
});
