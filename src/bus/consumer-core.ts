import type { Logger } from '../shared/logger';
import { LogThrottle } from '../shared/log-throttle';
import { PermanentError, RetryableError, retrying } from '../shared/retry';
import { REDRIVE_HEADER } from '../dlq/letters';
import type { BatchContext, BatchHandler, BusMessage } from './bus';

/**
 * What both buses do between fetching messages and committing them: split a partition's messages
 * into chunks, hand each to the role's handler, retry a failing chunk with backoff until it succeeds
 * or the consumer lets go of the partition (stop, rebalance), and gate everything on the state
 * rebuild of the current assignment. Commit policy stays with each bus.
 */

/** The consumer no longer owns the chunk (stopped, rebalanced, or a newer assignment): leave it uncommitted. */
export class LetGoError extends PermanentError {
  constructor(why: string) {
    super(why, 'let_go');
    this.name = 'LetGoError';
  }
}

export interface ChunkRunner {
  /**
   * Handles `chunk` until it succeeds (true) or the consumer lets go of it (false, nothing
   * committed); `stillOwner` is checked before every attempt.
   */
  run(chunk: BusMessage[], context: BatchContext, where: { topic: string; partition: number; stillOwner: () => Promise<boolean> | boolean }): Promise<boolean>;
}

/**
 * One retry mechanism for every consumer: a failed chunk is offered again after full-jitter backoff
 * (200 ms doubling to 30 s), and its failures are logged once a minute per group, not per attempt.
 */
export function chunkRunner(options: { group: string; handler: BatchHandler; logger: Logger; signal: AbortSignal; stage?: string; onRedriven?: (count: number) => void }): ChunkRunner {
  const throttle = new LogThrottle(options.logger);
  return {
    async run(all, context, { stillOwner, ...where }) {
      // Redriven messages go to the stage that dead-lettered them, and to no other.
      const chunk = all.filter((m) => m.headers[REDRIVE_HEADER] === undefined || m.headers[REDRIVE_HEADER] === options.stage);
      const redriven = chunk.filter((m) => m.headers[REDRIVE_HEADER] !== undefined).length;
      if (chunk.length === 0) return true;
      try {
        await retrying(
          async () => {
            if (!(await stillOwner())) throw new LetGoError('partition no longer owned');
            try {
              await options.handler(chunk, context);
            } catch (err) {
              // A handler turns record-level refusals into dead letters itself; whatever it throws
              // is about the batch, which must never be dropped: it is offered again.
              throw err instanceof PermanentError && !(err instanceof LetGoError) ? new RetryableError(err.message, null, { cause: err }) : err;
            }
          },
          {
            baseMs: 200,
            capMs: 30_000,
            signal: options.signal,
            onRetry: (error, attempt, waitMs) =>
              throttle.log('error', 'handler', 'consumer handler failed; the batch will be offered again', {
                group: options.group,
                ...where,
                attempt,
                retryInMs: waitMs,
                error: error.message,
              }),
          },
        );
        throttle.reset('handler');
        if (redriven > 0) options.onRedriven?.(redriven);
        return true;
      } catch (err) {
        if (err instanceof LetGoError || options.signal.aborted) return false;
        throw err;
      }
    },
  };
}

/**
 * Assignment generations: each assignment's state rebuild (correlator incidents, metric gauges) is
 * tagged with a generation; only the latest one's success makes the consumer ready, and its
 * failure (never an older one's) calls `onFailure`. Overlapping rebuilds cannot clear each other's
 * flags, and a batch knows which generation it was fetched under.
 */
export class AssignmentGate {
  #generation = 0;
  #ready = false;
  /** The current generation's rebuild, while it runs. */
  #pending: Promise<void> | null = null;

  get generation(): number {
    return this.#generation;
  }

  ready(): boolean {
    return this.#ready;
  }

  /** The current generation's rebuild is still running. */
  rebuilding(): boolean {
    return this.#pending !== null;
  }

  /** Starts generation N+1 with its rebuild; resolves when that rebuild settled (never rejects). */
  assign(rebuild: (generation: number) => Promise<void> | void, onFailure: (error: Error) => void): Promise<void> {
    const generation = ++this.#generation;
    this.#ready = false;
    const settled = Promise.resolve()
      .then(() => rebuild(generation))
      .then(
        () => {
          if (generation === this.#generation) this.#ready = true;
        },
        (err: Error) => {
          if (generation === this.#generation) onFailure(err);
        },
      )
      .finally(() => {
        if (this.#pending === settled) this.#pending = null;
      });
    this.#pending = settled;
    return settled;
  }

  /** The partitions were taken away: nothing may be applied until the next assignment is rebuilt. */
  revoke(): void {
    this.#generation++;
    this.#ready = false;
    this.#pending = null;
  }

  /** Resolves when the current generation's rebuild settled, or after `ms` (a real wait either way when nothing is pending). */
  settled(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
    return Promise.race(this.#pending ? [this.#pending, timeout] : [timeout]).finally(() => clearTimeout(timer));
  }
}
