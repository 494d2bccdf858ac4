/**
 * MIST_API_MAX_REQUESTS_PER_HOUR as a sliding hour: a request may go when fewer than the budget
 * went in the last hour. Pure: time is given.
 */
export class RequestBudget {
  readonly #sent: number[] = [];

  constructor(private readonly perHour: number) {}

  /** Takes a slot now and returns 0, or returns how long to wait for one (taking nothing). */
  take(now: number): number {
    while (this.#sent.length > 0 && this.#sent[0]! <= now - 3_600_000) this.#sent.shift();
    if (this.#sent.length < this.perHour) {
      this.#sent.push(now);
      return 0;
    }
    return this.#sent[0]! + 3_600_000 - now;
  }

  /** Requests sent in the last hour. */
  used(now: number): number {
    return this.#sent.filter((t) => t > now - 3_600_000).length;
  }
}
