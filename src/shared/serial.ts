/**
 * Work run one piece at a time, in the order it was queued: a failed piece does not stop the ones
 * after it. Every owner of a file or of state that async callers share (the DLQ file, a compacted
 * store, a projection) queues through one of these.
 */
export class SerialQueue {
  #tail: Promise<unknown> = Promise.resolve();

  run<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#tail.then(work, work);
    this.#tail = next.catch(() => undefined);
    return next;
  }

  /** Resolves once everything queued so far has settled. */
  idle(): Promise<void> {
    return this.run(async () => undefined);
  }
}
