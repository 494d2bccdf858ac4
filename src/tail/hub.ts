import type { Incident } from '../domain/incident';
import type { MistEvent } from '../domain/mist-event';

/** `raw`: the Mist event as received, only with PRIVACY_MODE=off (privacy redacts before normalization; the raw body holds what it hides). */
export type TailItem = { kind: 'event'; event: MistEvent; raw?: unknown } | { kind: 'incident'; incident: Incident };

/**
 * Live copies of what this process normalizes and correlates, for `/api/tail`. Nothing is kept:
 * a tail sees what happens while it listens. Publishing costs nothing while no one listens.
 */
export class TailHub {
  readonly #listeners = new Set<(item: TailItem) => void>();
  readonly #closers = new Set<() => void>();

  get listening(): boolean {
    return this.#listeners.size > 0;
  }

  publish(item: TailItem): void {
    for (const listener of this.#listeners) listener(item);
  }

  /** `onClose` ends the reader's stream when the process shuts down (a tail must not hold the drain up). */
  subscribe(listener: (item: TailItem) => void, onClose: () => void): () => void {
    this.#listeners.add(listener);
    this.#closers.add(onClose);
    return () => {
      this.#listeners.delete(listener);
      this.#closers.delete(onClose);
    };
  }

  close(): void {
    for (const close of [...this.#closers]) close();
  }
}
