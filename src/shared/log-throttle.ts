import type { Logger } from './logger';

/**
 * One log line per kind of repeated failure and interval: the first at once, then at most one per
 * `intervalMs` carrying how many were left out. The counter next to it counts every occurrence, so
 * an outage shows in metrics without flooding the log (a 30-day Retry-After once made 2,753 lines in 5 s).
 */
export class LogThrottle {
  readonly #last = new Map<string, { at: number; suppressed: number }>();

  constructor(
    private readonly logger: Logger,
    private readonly intervalMs = 60_000,
    private readonly now: () => number = Date.now,
  ) {}

  log(level: 'error' | 'warn' | 'info', kind: string, message: string, meta: Record<string, unknown> = {}): void {
    const now = this.now();
    const seen = this.#last.get(kind);
    if (seen && now - seen.at < this.intervalMs) {
      seen.suppressed++;
      return;
    }
    this.#last.set(kind, { at: now, suppressed: 0 });
    this.logger[level](message, seen?.suppressed ? { ...meta, suppressed: seen.suppressed } : meta);
  }

  /** The failure is over: the next one is logged at once. */
  reset(kind: string): void {
    this.#last.delete(kind);
  }
}
