import type { Clock } from '../shared/clock';
import { mergeTransitions, type Transition } from './transitions';

/**
 * One destination's grouping on the clock (CONTRACT section 9): transitions added within
 * NOTIFY_GROUP_S of the first go out as one message, whichever batches and partitions they came
 * from. `add` resolves once the destination took the message (or rejects with its refusal), which
 * is when the batches that added them may be committed. Messages go out one at a time, in order.
 */
export class GroupWindow {
  #open: { transitions: Transition[]; settle: { resolve: () => void; reject: (err: unknown) => void }; done: Promise<void>; cancel: () => void } | null = null;
  #sending: Promise<void> = Promise.resolve();

  constructor(
    private readonly groupMs: number,
    private readonly clock: Clock,
    private readonly send: (transitions: Transition[]) => Promise<void>,
  ) {}

  add(transitions: readonly Transition[]): Promise<void> {
    if (!this.#open) {
      let settle = { resolve: (): void => undefined, reject: (_err: unknown): void => undefined };
      const done = new Promise<void>((resolve, reject) => (settle = { resolve, reject }));
      done.catch(() => undefined); // every adder awaits it; an unawaited rejection is not a crash
      this.#open = { transitions: [], settle, done, cancel: this.clock.after(this.groupMs, () => this.flush()) };
    }
    this.#open.transitions.push(...transitions);
    return this.#open.done;
  }

  /** Closes the open window now (its timer, a shutdown); resolves once everything closed so far was sent or refused. */
  flush(): Promise<void> {
    const window = this.#open;
    if (window) {
      this.#open = null;
      window.cancel();
      this.#sending = this.#sending.then(() => this.send(mergeTransitions(window.transitions)).then(window.settle.resolve, window.settle.reject));
    }
    return this.#sending;
  }
}
