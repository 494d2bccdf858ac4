import { PerformanceObserver, constants, type PerformanceEntry } from 'node:perf_hooks';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';

/**
 * The process's memory budget as reservations (the Memory issue): what the process holds is
 * charged where it is taken — bytes being normalized, batches on their way to Splunk or Kafka,
 * fetched batches waiting for their handler, tail buffers — beside sources it reads on demand (the
 * embedded bus' logs). When the reservations reach the limit, the ingress answers 503 and the
 * stages that add work (the normalizer, fetching) wait; the stages that drain (delivery) never do.
 *
 * Measured memory (heap in use plus external and array buffers) is only a second brake, with
 * hysteresis, so that garbage not yet collected never turns normal load into 503s: it engages when
 * a reading taken right after a full garbage collection (what is alive) is at BRAKE_ON of the
 * budget, and lets go when any reading is under BRAKE_OFF (garbage only ever adds to a reading).
 * A process with 150,000 compacted records and no heap cap read 80 % between collections.
 */
const BRAKE_ON = 0.75;
const BRAKE_OFF = 0.6;
const SAMPLE_MS = 250;
/** While braking, a full collection is asked for when none happened for this long. */
const COLLECT_AFTER_MS = 2000;

/** V8's full collection, made callable without starting Node with --expose-gc; null where it cannot be. */
export function fullCollection(): (() => void) | null {
  try {
    setFlagsFromString('--expose-gc');
    return runInNewContext('gc') as () => void;
  } catch {
    return null;
  }
}

export type Holder = 'normalizing' | 'delivery' | 'fetched' | 'tail';

export interface MemoryState {
  limit: number;
  held: number;
  byHolder: Record<string, number>;
  measured: number | null;
  braking: boolean;
}

export class MemoryAccount {
  readonly #sources = new Map<string, () => number>();
  readonly #held = new Map<Holder, number>();
  readonly #waiters = new Set<() => void>();
  #measured: number | null = null;
  #braking = false;
  /** The brake engages only once the process serves: a start-up's loading is transient and refuses nothing. */
  #armed = false;
  #timer: NodeJS.Timeout | null = null;
  #gc: PerformanceObserver | null = null;

  constructor(
    /** Reservations beyond this refuse webhooks and hold back the stages that add work. */
    readonly limit: number,
    /** What the heap and buffers may use (the budget less its fixed part), for the measured brake; null: no brake. */
    private readonly budget: number | null,
    private readonly measure: () => number = () => {
      const usage = process.memoryUsage();
      return usage.heapUsed + usage.external;
    },
    /** A full collection on demand (null: none): a braking process that allocates nothing may not collect for a long time. */
    private readonly collect: (() => void) | null = budget === null ? null : fullCollection(),
  ) {
    if (budget !== null) {
      this.#timer = setInterval(() => this.tick(), SAMPLE_MS);
      this.#timer.unref();
      this.#gc = new PerformanceObserver((list) => {
        if (list.getEntries().some((entry) => (entry as PerformanceEntry & { detail?: { kind?: number } }).detail?.kind === constants.NODE_PERFORMANCE_GC_MAJOR)) this.sample(true);
      });
      this.#gc.observe({ entryTypes: ['gc'] });
    }
  }

  /** Bytes a part of the process holds, read when asked (a log's entries, a consumer's queues); null removes it. */
  source(name: string, bytes: (() => number) | null): void {
    if (bytes) this.#sources.set(name, bytes);
    else {
      this.#sources.delete(name);
      this.#wake();
    }
  }

  /** Charges `bytes` to `holder` until the returned function is called (once). */
  hold(holder: Holder, bytes: number): () => void {
    this.#held.set(holder, (this.#held.get(holder) ?? 0) + bytes);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#held.set(holder, (this.#held.get(holder) ?? 0) - bytes);
      this.#wake();
    };
  }

  held(): number {
    let total = 0;
    for (const bytes of this.#held.values()) total += bytes;
    for (const bytes of this.#sources.values()) total += bytes();
    return total;
  }

  /** Why no more work may be taken on now, or null. */
  over(): string | null {
    // While braking, every question reads again: a low reading lets go at once (a start-up's
    // transient load must not refuse the first webhooks until the next timer tick).
    if (this.#braking) this.sample(false);
    if (this.#braking) return `memory in use over ${Math.round(BRAKE_ON * 100)} % of the budget (measured; until it falls under ${Math.round(BRAKE_OFF * 100)} %)`;
    if (this.held() >= this.limit) return 'memory reservations at their bound (a backlog waits for its stage)';
    return null;
  }

  /**
   * Waits while the reservations are at the bound (a stage that adds work: the normalizer's
   * output), or until `signal` aborts. What the waiter holds itself (`except`) does not count: a
   * stage must not wait on its own input. The measured brake does not hold stages back: it is the
   * ingress's, and the stage's reservations already bound what it adds.
   */
  async waitForRoom(signal: AbortSignal | undefined, except: Holder[] = [], onWait: () => void = () => undefined): Promise<void> {
    const full = (): boolean => this.held() - except.reduce((n, holder) => n + (this.#held.get(holder) ?? 0), 0) >= this.limit;
    while (full()) {
      if (signal?.aborted) return;
      onWait();
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.#waiters.delete(wake);
          signal?.removeEventListener('abort', wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, 1000);
        this.#waiters.add(wake);
        signal?.addEventListener('abort', wake, { once: true });
      });
    }
  }

  /** Something was released (a log trimmed, a batch delivered): waiters look again. */
  released(): void {
    this.#wake();
  }

  #lastLive = 0;

  /**
   * The timer's reading. While braking and no full collection has happened for COLLECT_AFTER_MS,
   * one is asked for: the ingress refuses, little is allocated, and without it the garbage of
   * the moment the brake engaged could keep it engaged for minutes.
   */
  tick(now = performance.now()): void {
    if (this.#braking && this.collect && now - this.#lastLive >= COLLECT_AFTER_MS) {
      this.#lastLive = now;
      this.collect(); // the GC observer then takes the live reading
    }
    this.sample(false);
  }

  /**
   * Takes a measurement now: `live` when it follows a full collection (the GC observer's), when
   * it may engage the brake; any reading may release it.
   */
  sample(live: boolean): void {
    if (this.budget === null) return;
    if (live) this.#lastLive = performance.now();
    this.#measured = this.measure();
    if (!this.#braking && live && this.#armed && this.#measured >= BRAKE_ON * this.budget) this.#braking = true;
    else if (this.#braking && this.#measured < BRAKE_OFF * this.budget) {
      this.#braking = false;
      this.#wake();
    }
  }

  /** The process serves from now on (after start-up's loading of stores and journals). */
  arm(): void {
    this.#armed = true;
  }

  state(): MemoryState {
    const byHolder: Record<string, number> = {};
    for (const [name, bytes] of this.#held) byHolder[name] = bytes;
    for (const [name, bytes] of this.#sources) byHolder[name] = bytes();
    return { limit: this.limit, held: this.held(), byHolder, measured: this.#measured, braking: this.#braking };
  }

  close(): void {
    if (this.#timer) clearInterval(this.#timer);
    this.#gc?.disconnect();
  }

  #wake(): void {
    for (const wake of [...this.#waiters]) wake();
  }
}
