/**
 * Wall-clock time and periodic work, injected so that tests move time instead of waiting for it
 * (the incident sweep, retention, received_at).
 */
export interface Clock {
  now(): number;
  /** Calls `work` every `ms` until the returned function is called; never keeps the process alive. */
  every(ms: number, work: () => void): () => void;
  /** Calls `work` once after `ms`, unless the returned function is called first; never keeps the process alive. */
  after(ms: number, work: () => void): () => void;
}

export const systemClock: Clock = {
  now: () => Date.now(),
  every(ms, work) {
    const timer = setInterval(work, ms);
    timer.unref();
    return () => clearInterval(timer);
  },
  after(ms, work) {
    const timer = setTimeout(work, ms);
    timer.unref();
    return () => clearTimeout(timer);
  },
};
