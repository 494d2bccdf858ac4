/**
 * Produce coalescing (kafkajs has no linger of its own): writes to one topic that arrive while a
 * send is in flight, or within `lingerMs` of the first, go out as one send, which Kafka stores as
 * one record batch per partition. Each caller's promise settles with the send that carried its
 * messages, so a 200 still waits for the acknowledgement of its own webhook (acks=-1).
 *
 * A send refused for one caller's messages only (too large) must not fail the others: such a
 * failure of a shared send is retried per caller (`splits`).
 */
export interface CoalescerOptions<M> {
  send: (messages: M[]) => Promise<void>;
  lingerMs: number;
  /** A shared send is flushed before it would hold more than this (bytes of values). */
  maxBytes: number;
  size: (message: M) => number;
  /** Whether a failure of a shared send may be one caller's alone (then each caller is sent alone). */
  splits: (error: unknown) => boolean;
}

interface Waiter<M> {
  messages: M[];
  resolve: () => void;
  reject: (error: unknown) => void;
}

export class Coalescer<M> {
  #pending: Array<Waiter<M>> = [];
  #pendingBytes = 0;
  #inFlight: Promise<void> | null = null;
  #timer: NodeJS.Timeout | null = null;

  constructor(private readonly options: CoalescerOptions<M>) {}

  add(messages: M[]): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const waiter = { messages, resolve, reject };
      this.#pending.push(waiter);
      this.#pendingBytes += this.#sizeOf(waiter);
      if (this.#pendingBytes >= this.options.maxBytes) this.#flush();
      else if (!this.#inFlight && !this.#timer) {
        if (this.options.lingerMs <= 0) this.#flush();
        else this.#timer = setTimeout(() => this.#flush(), this.options.lingerMs);
      }
    });
  }

  /**
   * Sends what is pending now, at most `maxBytes` of it (at least one caller's), unless a send is
   * in flight: its end sends what gathered meanwhile, a send at a time. A send never grows past the
   * bound however much gathered (past the topic's max.message.bytes it would fail whole).
   */
  #flush(): void {
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
    if (this.#inFlight || this.#pending.length === 0) return;
    let bytes = 0;
    let count = 0;
    for (; count < this.#pending.length; count++) {
      const size = this.#sizeOf(this.#pending[count]!);
      if (count > 0 && bytes + size > this.options.maxBytes) break;
      bytes += size;
    }
    const waiters = this.#pending.splice(0, count);
    this.#pendingBytes -= bytes;
    this.#inFlight = this.#sendAll(waiters).finally(() => {
      this.#inFlight = null;
      this.#flush();
    });
  }

  #sizeOf(waiter: Waiter<M>): number {
    return waiter.messages.reduce((sum, m) => sum + this.options.size(m), 0);
  }

  async #sendAll(waiters: Array<Waiter<M>>): Promise<void> {
    try {
      await this.options.send(waiters.flatMap((w) => w.messages));
      for (const w of waiters) w.resolve();
    } catch (error) {
      if (waiters.length === 1 || !this.options.splits(error)) {
        for (const w of waiters) w.reject(error);
        return;
      }
      // One caller's messages may be the cause: each caller alone gets its own answer.
      await Promise.all(
        waiters.map((w) =>
          this.options.send(w.messages).then(
            () => w.resolve(),
            (err: unknown) => w.reject(err),
          ),
        ),
      );
    }
  }
}
