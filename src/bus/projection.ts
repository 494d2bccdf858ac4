import { SerialQueue } from '../shared/serial';
import { LetGoError } from './consumer-core';

/**
 * The one way a role keeps state rebuilt from a compacted topic (Kafka Streams' restore-then-run):
 * every mutation — the rebuild at an assignment, a batch, a timer's work — runs here one at a
 * time, tagged with the assignment generation it belongs to. A rebuild clears the state and loads
 * the new assignment's; a batch fetched under another generation is let go (it stays uncommitted
 * for the partition's owner); timer work skips state that is being rebuilt or belongs to another
 * generation. Overlapping rebuilds therefore never merge: the last one wins, whole.
 */
export class Projection {
  /** The generation whose state is loaded; null while a rebuild runs (or before the first). */
  #generation: number | null = null;
  readonly #queue = new SerialQueue();

  constructor(
    /** Empties the state (before a rebuild loads the next generation's). */
    private readonly clear: () => void,
  ) {}

  get generation(): number | null {
    return this.#generation;
  }

  /** Clears the state and loads the generation's with `load`; a failed load leaves no generation loaded. */
  rebuild(generation: number, load: () => Promise<void>): Promise<void> {
    return this.#queue.run(async () => {
      this.#generation = null;
      this.clear();
      await load();
      this.#generation = generation;
    });
  }

  /** Runs `work` on the state of `generation`; throws LetGoError when another generation's state is loaded. */
  apply<T>(generation: number, work: () => Promise<T>): Promise<T> {
    return this.#queue.run(async () => {
      if (this.#generation !== generation) throw new LetGoError(`state is generation ${this.#generation}, the batch ${generation}`);
      return work();
    });
  }

  /** Runs `work` only if the state of `generation` is loaded (timer work skips a rebuild in progress). */
  ifCurrent(generation: number | null, work: () => Promise<void>): Promise<void> {
    return this.#queue.run(async () => {
      if (generation !== null && this.#generation === generation) await work();
    });
  }

  /** Resolves once everything queued so far ran. */
  idle(): Promise<void> {
    return this.#queue.idle();
  }
}
