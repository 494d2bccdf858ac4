/**
 * Remembers event ids for a fixed window (CONTRACT section 5: duplicates are dropped within a
 * configurable window, default 10 min). Entries expire in insertion order, so a Map doubles as the
 * expiry queue; `maxEntries` bounds memory under a flood of distinct events.
 */
export class DedupeWindow {
  readonly #expiries = new Map<string, number>();

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries = 1_000_000,
  ) {}

  /** True when `id` was recorded within the window. */
  has(id: string, nowMs: number): boolean {
    this.#expire(nowMs);
    return this.#expiries.has(id);
  }

  /** Records ids once their events were written: a batch that failed comes again and must not be taken for a duplicate. */
  add(ids: Iterable<string>, nowMs: number): void {
    if (this.windowMs <= 0) return;
    for (const id of ids) {
      this.#expiries.delete(id);
      this.#expiries.set(id, nowMs + this.windowMs);
    }
    while (this.#expiries.size > this.maxEntries) this.#expiries.delete(this.#expiries.keys().next().value!);
  }

  #expire(nowMs: number): void {
    for (const [id, expiry] of this.#expiries) {
      if (expiry > nowMs) break;
      this.#expiries.delete(id);
    }
  }
}
