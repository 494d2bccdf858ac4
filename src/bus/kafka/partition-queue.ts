import { fitting } from '../../shared/chunks';
import type { BusMessage } from '../bus';

/**
 * Messages fetched for one partition and not yet handed to the role, oldest first. Fetches fill
 * it (their offsets are resolved at once, so the next fetch continues after them); the partition's
 * worker takes batches from it by the consumer core's rule. Nothing here is committed: a revoke
 * drops the queue, and the partition's next owner fetches from the committed offset again.
 */
export class PartitionQueue {
  readonly #entries: Array<{ message: BusMessage; at: number; bytes: number }> = [];
  #bytes = 0;
  #wake: (() => void) | null = null;

  get count(): number {
    return this.#entries.length;
  }

  get bytes(): number {
    return this.#bytes;
  }

  get oldestAt(): number | undefined {
    return this.#entries[0]?.at;
  }

  push(messages: readonly BusMessage[], at: number): void {
    for (const message of messages) {
      const bytes = message.value?.length ?? 0;
      this.#entries.push({ message, at, bytes });
      this.#bytes += bytes;
    }
    this.#wake?.();
  }

  /** The oldest messages that fit one batch (at least one when any wait). */
  take(maxCount: number, maxBytes?: number): BusMessage[] {
    const count = fitting((i) => this.#entries[i]?.bytes, maxCount, maxBytes);
    const taken = this.#entries.splice(0, count);
    for (const entry of taken) this.#bytes -= entry.bytes;
    return taken.map((e) => e.message);
  }

  /** Resolves when messages are pushed, after `ms`, or when `signal` aborts. */
  changed(ms: number, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = (): void => {
        clearTimeout(timer);
        signal.removeEventListener('abort', done);
        if (this.#wake === done) this.#wake = null;
        resolve();
      };
      const timer = setTimeout(done, Math.min(ms, 2 ** 31 - 1));
      signal.addEventListener('abort', done, { once: true });
      this.#wake = done;
    });
  }
}
