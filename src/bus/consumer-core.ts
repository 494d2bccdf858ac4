import type { Logger } from '../shared/logger';
import { LogThrottle } from '../shared/log-throttle';
import { PermanentError, RetryableError, retrying } from '../shared/retry';
import { REDRIVE_HEADER, handledBy } from '../dlq/letters';
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
   * Handles `chunk` until it succeeds (its deferred effects, see BatchContext.defer) or the
   * consumer lets go of it (null, nothing committed); `stillOwner` is checked before every attempt.
   */
  run(chunk: BusMessage[], context: Omit<BatchContext, 'defer'>, where: { topic: string; partition: number; stillOwner: () => Promise<boolean> | boolean }): Promise<Promise<unknown>[] | null>;
}

/**
 * One retry mechanism for every consumer: a failed chunk is offered again after full-jitter backoff
 * (200 ms doubling to 30 s), and its failures are logged once a minute per group, not per attempt.
 * The context's signal ends the retries (the consumer stops, or its assignment ends). Effects a
 * failed attempt deferred are dropped with it.
 */
export function chunkRunner(options: { group: string; handler: BatchHandler; logger: Logger; stage?: string; destination?: string; onRedriven?: (count: number) => void }): ChunkRunner {
  const throttle = new LogThrottle(options.logger);
  return {
    async run(all, context, { stillOwner, ...where }) {
      // Redriven messages go to the stage that dead-lettered them (and its destination), and to no other.
      const chunk = all.filter((m) => handledBy(m.headers, options.stage, options.destination));
      const redriven = chunk.filter((m) => m.headers[REDRIVE_HEADER] !== undefined).length;
      if (chunk.length === 0) return [];
      try {
        const effects = await retrying(
          async () => {
            if (!(await stillOwner())) throw new LetGoError('partition no longer owned');
            const deferred: Promise<unknown>[] = [];
            try {
              await options.handler(chunk, { ...context, defer: (effect) => void deferred.push(effect) });
            } catch (err) {
              // A handler turns record-level refusals into dead letters itself; whatever it throws
              // is about the batch, which must never be dropped: it is offered again.
              throw err instanceof PermanentError && !(err instanceof LetGoError) ? new RetryableError(err.message, null, { cause: err }) : err;
            }
            return deferred;
          },
          {
            baseMs: 200,
            capMs: 30_000,
            signal: context.signal,
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
        return effects;
      } catch (err) {
        if (err instanceof LetGoError || context.signal.aborted) return null;
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
  /** Aborted when the generation ends: work fetched under it (a retry loop, a send) lets go. */
  #ended = new AbortController();

  get generation(): number {
    return this.#generation;
  }

  /** Aborts when the current generation ends (a revoke, a newer assignment). */
  get signal(): AbortSignal {
    return this.#ended.signal;
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
    const generation = this.#next();
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
    this.#next();
    this.#pending = null;
  }

  #next(): number {
    this.#ended.abort();
    this.#ended = new AbortController();
    this.#ready = false;
    return ++this.#generation;
  }

  /** Resolves when the current generation's rebuild settled, or after `ms` (a real wait either way when nothing is pending). */
  settled(ms: number): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    const timeout = new Promise<void>((resolve) => (timer = setTimeout(resolve, ms)));
    return Promise.race(this.#pending ? [this.#pending, timeout] : [timeout]).finally(() => clearTimeout(timer));
  }
}

/**
 * Whether a consumer should hand over its waiting messages now: a full batch (count or bytes), or
 * the oldest has waited its linger. Both buses batch by this rule, whatever their fetches held.
 */
export function batchDue(waiting: { count: number; bytes: number; oldestAt: number | undefined }, now: number, options: { maxBatch: number; maxBatchBytes?: number; lingerMs?: number }): { due: boolean; waitMs: number } {
  if (waiting.count === 0 || waiting.oldestAt === undefined) return { due: false, waitMs: Infinity };
  if (waiting.count >= options.maxBatch || waiting.bytes >= (options.maxBatchBytes ?? Infinity)) return { due: true, waitMs: 0 };
  const waitMs = waiting.oldestAt + (options.lingerMs ?? 0) - now;
  return waitMs <= 0 ? { due: true, waitMs: 0 } : { due: false, waitMs };
}

/**
 * Commits that wait for their batch's effects. A handler that hands its work to something that
 * finishes later (notify's group window: one chat message for every batch within NOTIFY_GROUP_S)
 * says so with `context.defer`; the consumer goes on fetching, and a batch's position is committed
 * only once its effects and those of every batch before it are done: the mark always follows the
 * effect. A failed effect is reported once (`onFailure`): the consumer then rebuilds its
 * assignment, which re-reads from the last commit.
 */
export class CommitQueue<P> {
  readonly #pending: Array<{ position: P; done: Promise<unknown>; settled: boolean }> = [];
  #failed = false;

  constructor(
    private readonly commit: (position: P) => Promise<void> | void,
    private readonly onFailure: (error: Error) => void,
    /** Batches whose effects may be outstanding at once; the next waits. */
    private readonly max = 64,
  ) {}

  /** After a batch's handler resolved: commits `position` once `effects` (and all before) are done. */
  async add(position: P, effects: readonly Promise<unknown>[]): Promise<void> {
    if (this.#failed) return;
    if (effects.length === 0 && this.#pending.length === 0) return this.commit(position);
    const entry = { position, done: Promise.all(effects), settled: false };
    this.#pending.push(entry);
    entry.done.then(
      () => {
        entry.settled = true;
        void this.#drain();
      },
      (err: Error) => this.#fail(err),
    );
    while (this.#pending.length > this.max && !this.#failed) await this.#pending[0]!.done.catch(() => undefined);
  }

  /** Resolves once every effect added so far settled and its commit ran (or the queue failed). */
  async drained(): Promise<void> {
    while (this.#pending.length > 0 && !this.#failed) {
      await Promise.allSettled(this.#pending.map((p) => p.done));
      // waits for a drain already under way (returning at once from it would spin without end)
      await this.#drain();
    }
  }

  #draining: Promise<void> | null = null;
  #drain(): Promise<void> {
    // `.finally` runs later than this assignment, even when nothing was settled
    this.#draining ??= this.#commitSettled().finally(() => (this.#draining = null));
    return this.#draining;
  }

  async #commitSettled(): Promise<void> {
    try {
      while (this.#pending[0]?.settled && !this.#failed) await this.commit(this.#pending.shift()!.position);
    } catch (err) {
      this.#fail(err as Error);
    }
  }

  #fail(err: Error): void {
    if (this.#failed) return;
    this.#failed = true;
    this.#pending.length = 0;
    this.onFailure(err);
  }
}
