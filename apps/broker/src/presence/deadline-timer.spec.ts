import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { atDeadline } from './deadline-timer.js';

const DAY = 86_400_000;

describe('atDeadline', () => {
  beforeEach(() => vi.useFakeTimers({ now: 1_000_000 }));
  afterEach(() => vi.useRealTimers());

  it('fires a 30-day session deadline at 30 days, not when setTimeout’s 24.8-day range runs out', () => {
    const fired: number[] = [];
    atDeadline(Date.now() + 30 * DAY, () => fired.push(Date.now()));
    vi.advanceTimersByTime(29 * DAY);
    expect(fired).toEqual([]);
    vi.advanceTimersByTime(DAY);
    expect(fired).toEqual([1_000_000 + 30 * DAY]);
    vi.advanceTimersByTime(30 * DAY);
    expect(fired).toHaveLength(1);
  });

  it('fires at once for a deadline already past, and never once cancelled', () => {
    const fired: string[] = [];
    atDeadline(Date.now() - 1, () => fired.push('past'));
    const cancel = atDeadline(Date.now() + 26 * DAY, () => fired.push('cancelled'));
    vi.advanceTimersByTime(25 * DAY);
    cancel();
    vi.advanceTimersByTime(2 * DAY);
    expect(fired).toEqual(['past']);
  });
});
