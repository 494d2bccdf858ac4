import type { Clock } from '../../src/shared/clock';

/** A clock that moves only when told; periodic work registered with `every` runs as time passes it. */
export class ManualClock implements Clock {
  #now: number;
  readonly #timers = new Set<{ ms: number; next: number; work: () => void; once?: boolean }>();

  constructor(start = Date.UTC(2026, 10, 1)) {
    this.#now = start;
  }

  now(): number {
    return this.#now;
  }

  every(ms: number, work: () => void): () => void {
    const timer = { ms, next: this.#now + ms, work };
    this.#timers.add(timer);
    return () => this.#timers.delete(timer);
  }

  after(ms: number, work: () => void): () => void {
    const timer = { ms, next: this.#now + ms, work, once: true };
    this.#timers.add(timer);
    if (ms <= 0) queueMicrotask(() => this.advance(0));
    return () => this.#timers.delete(timer);
  }

  /** Moves time forward, running each periodic job once per period passed (at most once per call per job). */
  advance(ms: number): void {
    this.#now += ms;
    for (const timer of [...this.#timers]) {
      if (timer.next > this.#now) continue;
      timer.next = this.#now + timer.ms;
      if (timer.once) this.#timers.delete(timer);
      timer.work();
    }
  }
}
