/** How many generations a window is cut into: ids are forgotten between 1 and 1.1 windows after they were seen. */
const GENERATIONS = 10;

/**
 * Remembers event ids for a window (CONTRACT section 5: duplicates are dropped within a
 * configurable window, default 10 min). At 1,000 events/s a window holds 600,000 ids, so memory
 * per id matters: ids live in generations, each a Set covering a tenth of the window, and expire a
 * generation at a time, so an id costs its Set slot and its characters, no timestamp. A flood of
 * distinct events fills generations early; `maxEntries` then forgets the oldest ones first.
 */
export class DedupeWindow {
  readonly #generations: Array<{ startMs: number; ids: Set<string> }> = [];
  #size = 0;

  constructor(
    private readonly windowMs: number,
    private readonly maxEntries = 1_000_000,
  ) {}

  /** True when `id` was recorded within the window (or up to a tenth of it longer ago). */
  has(id: string, nowMs: number): boolean {
    this.#expire(nowMs);
    return this.#generations.some((generation) => generation.ids.has(id));
  }

  /** Records ids once their events were written: a batch that failed comes again and must not be taken for a duplicate. */
  add(ids: Iterable<string>, nowMs: number): void {
    if (this.windowMs <= 0) return;
    this.#expire(nowMs);
    for (const id of ids) {
      let current = this.#generations.at(-1);
      if (!current || nowMs - current.startMs >= this.windowMs / GENERATIONS || current.ids.size >= this.maxEntries / GENERATIONS) {
        current = { startMs: nowMs, ids: new Set() };
        this.#generations.push(current);
      }
      const before = current.ids.size;
      current.ids.add(id);
      this.#size += current.ids.size - before;
    }
    while (this.#size > this.maxEntries) this.#drop();
  }

  #expire(nowMs: number): void {
    // A generation goes once its newest possible id is a whole window old.
    while (this.#generations.length > 0 && this.#generations[0]!.startMs + this.windowMs + this.windowMs / GENERATIONS <= nowMs) this.#drop();
  }

  #drop(): void {
    this.#size -= this.#generations.shift()!.ids.size;
  }
}
