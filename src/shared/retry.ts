import { AbortError, backoffMs, sleep as defaultSleep } from './backoff';

/**
 * Retry decisions travel with the error (the OpenTelemetry Collector's consumererror, kafkajs'
 * `retriable`): whoever knows what a failure means says so once, and one mechanism acts on it.
 */

/** Trying again cannot help: a malformed, refused or oversized request. */
export class PermanentError extends Error {
  constructor(
    message: string,
    /** The dead-letter reason, when the thing refused ends up in the DLQ. */
    readonly reason = 'rejected',
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'PermanentError';
  }
}

/** Worth trying again, after `retryAfterMs` when the other side said so (capped by the policy). */
export class RetryableError extends Error {
  constructor(
    message: string,
    readonly retryAfterMs: number | null = null,
    options?: {
      cause?: unknown;
      /**
       * Failures of this kind are retried for at most this long (from the first in a row), then
       * given up as PermanentError with `reason` (proxy answers in front of Splunk).
       */
      limitMs?: number;
      reason?: string;
    },
  ) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'RetryableError';
    this.limitMs = options?.limitMs ?? null;
    this.reason = options?.reason ?? 'retries_exhausted';
  }

  readonly limitMs: number | null;
  readonly reason: string;
}

/** The other side refuses us until an operator acts (a revoked HEC token): wait the policy's cap, keep everything. */
export class PauseError extends RetryableError {
  constructor(message: string) {
    super(message);
    this.name = 'PauseError';
  }
}

export interface RetryPolicy {
  baseMs: number;
  /** No wait is longer than this, `Retry-After` included (a 30-day Retry-After would overflow the timer). */
  capMs: number;
  signal?: AbortSignal;
  /** Before every wait: where the log line and the counter go. */
  onRetry?: (error: RetryableError, attempt: number, waitMs: number) => void;
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

/**
 * Runs `attempt` until it succeeds, throws a PermanentError, exhausts the time limit its errors
 * carry, or the signal aborts (AbortError). Any other error is retryable: a bug or a dropped
 * connection must not lose the work in hand, only delay it.
 */
export async function retrying<T>(attempt: (n: number) => Promise<T>, policy: RetryPolicy): Promise<T> {
  const now = policy.now ?? Date.now;
  const sleep = policy.sleep ?? defaultSleep;
  let limitedSince: number | null = null;
  for (let n = 0; ; n++) {
    try {
      return await attempt(n);
    } catch (err) {
      if (policy.signal?.aborted) throw new AbortError();
      if (err instanceof PermanentError || err instanceof AbortError) throw err;
      const retryable = err instanceof RetryableError ? err : new RetryableError((err as Error).message ?? String(err), null, { cause: err });
      if (retryable.limitMs !== null) {
        limitedSince ??= now();
        if (now() - limitedSince >= retryable.limitMs) {
          throw new PermanentError(`gave up after ${Math.round((now() - limitedSince) / 1000)} s: ${retryable.message}`, retryable.reason, { cause: err });
        }
      } else limitedSince = null;
      const waitMs = waitFor(retryable, n, policy);
      policy.onRetry?.(retryable, n, waitMs);
      await sleep(waitMs, policy.signal);
    }
  }
}

/** The wait before the next attempt: the cap for a pause, else Retry-After or full-jitter backoff, never above the cap. */
export function waitFor(error: RetryableError, attempt: number, policy: Pick<RetryPolicy, 'baseMs' | 'capMs' | 'random'>): number {
  if (error instanceof PauseError) return policy.capMs;
  if (error.retryAfterMs !== null) return Math.min(policy.capMs, Math.max(0, error.retryAfterMs));
  return backoffMs(attempt, policy.baseMs, policy.capMs, policy.random);
}
