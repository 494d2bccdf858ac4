import type { NotifyDestination } from '../config/config';
import { PermanentError, RetryableError, retrying } from '../shared/retry';

/**
 * One POST of a JSON body to a destination, retried with backoff on 429, 5xx and no answer
 * (Retry-After honoured, every wait capped at NOTIFY_RETRY_MAX_MS); any other 4xx is a
 * PermanentError (`notify_rejected`). `limitMs`: give up after that long of failed tries (event
 * routes); without it, retried until the signal aborts (incident notifications: at-least-once).
 * A call's own `signal` abandons that one message (an event route letting go under memory pressure).
 */
export function poster(
  destination: Pick<NotifyDestination, 'url'>,
  options: { retryMaxMs: number; signal: AbortSignal; limitMs?: number; onRetry: (error: RetryableError, attempt: number, waitMs: number) => void },
): (body: unknown, signal?: AbortSignal) => Promise<void> {
  const host = new URL(destination.url).host; // the URL is a secret: its host is what is said
  const retryable = (message: string, retryAfterMs: number | null = null): RetryableError =>
    new RetryableError(message, retryAfterMs, options.limitMs === undefined ? undefined : { limitMs: options.limitMs, reason: 'notify_rejected' });
  return (body, abort) => {
    const signal = abort ? AbortSignal.any([options.signal, abort]) : options.signal;
    return retrying(
      async () => {
        let response: Response;
        try {
          response = await fetch(destination.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.any([signal, AbortSignal.timeout(15_000)]) });
        } catch (err) {
          throw retryable(`${host}: ${(err as Error).message}`);
        }
        const text = (await response.text()).slice(0, 200);
        if (response.ok) return;
        if (response.status === 429 || response.status >= 500) {
          const after = Number(response.headers.get('retry-after'));
          throw retryable(`${host}: HTTP ${response.status} ${text}`, Number.isFinite(after) && response.headers.get('retry-after') !== null ? after * 1000 : null);
        }
        throw new PermanentError(`${host}: HTTP ${response.status} ${text}`, 'notify_rejected');
      },
      { baseMs: Math.min(1000, options.retryMaxMs), capMs: options.retryMaxMs, signal, onRetry: options.onRetry },
    );
  };
}
