/**
 * Keeps label values from input bounded (CONTRACT section 7): values of the known Mist catalogue
 * always pass; unknown values pass until `limit` distinct ones have been seen, then become `other`.
 */
export class LabelLimiter {
  readonly #seen = new Set<string>();

  constructor(
    private readonly known: ReadonlySet<string>,
    private readonly limit: number,
  ) {}

  value(raw: string): string {
    if (this.known.has(raw) || this.#seen.has(raw)) return raw;
    if (this.#seen.size < this.limit) {
      this.#seen.add(raw);
      return raw;
    }
    return 'other';
  }
}
