import { AbortError } from '../../../src/shared/backoff';
import { PauseError, PermanentError, RetryableError, retrying, waitFor } from '../../../src/shared/retry';

/** A clock and a sleep that only move when the retry loop waits: no wall-clock time passes. */
function fakeTime() {
  let now = 0;
  const waits: number[] = [];
  return {
    now: () => now,
    waits,
    sleep: async (ms: number) => {
      waits.push(ms);
      now += ms;
    },
  };
}

describe('retrying: one retry mechanism, decisions carried by error types', () => {
  it('caps every wait, Retry-After included (30 days used to overflow the timer into a 1 ms loop)', async () => {
    const time = fakeTime();
    let calls = 0;
    const result = await retrying(
      async () => {
        if (++calls <= 3) throw new RetryableError('throttled', 30 * 86400_000);
        return 'done';
      },
      { baseMs: 100, capMs: 30_000, ...time },
    );
    expect(result).toBe('done');
    expect(time.waits).toEqual([30_000, 30_000, 30_000]);
  });

  it('honours a Retry-After below the cap exactly', () => {
    expect(waitFor(new RetryableError('x', 1200), 5, { baseMs: 100, capMs: 30_000 })).toBe(1200);
    expect(waitFor(new RetryableError('x', -5), 0, { baseMs: 100, capMs: 30_000 })).toBe(0);
  });

  it('backs off with full jitter below the cap when no Retry-After is given', () => {
    const waits = Array.from({ length: 12 }, (_, attempt) => waitFor(new RetryableError('x'), attempt, { baseMs: 100, capMs: 1000, random: () => 0.999 }));
    expect(waits.slice(0, 4)).toEqual([99, 199, 399, 799]);
    expect(Math.max(...waits)).toBeLessThan(1000);
  });

  it('waits the cap while paused, and never gives up on a pause', async () => {
    const time = fakeTime();
    let calls = 0;
    await retrying(
      async () => {
        if (++calls < 50) throw new PauseError('token refused');
      },
      { baseMs: 100, capMs: 5000, ...time },
    );
    expect(time.waits).toHaveLength(49);
    expect(new Set(time.waits)).toEqual(new Set([5000]));
  });

  it('gives up on errors with a time limit once it has passed, as a PermanentError with their reason', async () => {
    const time = fakeTime();
    const error = retrying(
      async () => {
        throw new RetryableError('HTTP 502 without a HEC body', null, { limitMs: 600_000, reason: 'proxy_error' });
      },
      { baseMs: 500, capMs: 30_000, ...time, random: () => 0.5 },
    );
    await expect(error).rejects.toBeInstanceOf(PermanentError);
    await expect(error).rejects.toMatchObject({ reason: 'proxy_error' });
    expect(time.now()).toBeGreaterThanOrEqual(600_000);
    expect(time.now()).toBeLessThan(600_000 + 30_000);
  });

  it('starts the limit again after an unlimited failure (a proxy blip between HEC outages)', async () => {
    const time = fakeTime();
    let calls = 0;
    await retrying(
      async () => {
        calls++;
        if (calls === 200) return;
        throw calls % 2 === 0 ? new RetryableError('HEC busy') : new RetryableError('proxy', null, { limitMs: 1000, reason: 'proxy_error' });
      },
      { baseMs: 1000, capMs: 1000, ...time, random: () => 1 },
    );
    expect(calls).toBe(200);
  });

  it('passes permanent errors through at once and treats unknown errors as retryable', async () => {
    const time = fakeTime();
    await expect(retrying(async () => Promise.reject(new PermanentError('refused', 'hec_rejected')), { baseMs: 1, capMs: 1, ...time })).rejects.toMatchObject({ reason: 'hec_rejected' });
    let calls = 0;
    await retrying(
      async () => {
        if (++calls === 1) throw new TypeError('socket hang up');
      },
      { baseMs: 1, capMs: 1, ...time },
    );
    expect(calls).toBe(2);
  });

  it('stops with AbortError when its signal aborts', async () => {
    const abort = new AbortController();
    const pending = retrying(
      async () => {
        throw new RetryableError('down');
      },
      { baseMs: 10_000, capMs: 10_000, signal: abort.signal, random: () => 1 },
    );
    setTimeout(() => abort.abort(), 20);
    await expect(pending).rejects.toBeInstanceOf(AbortError);
  });
});
