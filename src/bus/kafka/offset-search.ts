/** A record as a search sees it: where it is and when its webhook was received. */
export type Probe = { offset: bigint; receivedAt: number };

/**
 * The first offset in [low, high) whose record was received at or after `target` (`high` when
 * none), in O(log n) probes. `at(offset)` answers the first record at or after `offset` (offsets
 * may have gaps). It assumes `received_at` grows with the offset, which holds up to the clock skew
 * between ingress replicas and produce latency: callers search a little earlier than they need.
 */
export async function firstReceivedAtOrAfter(low: bigint, high: bigint, target: number, at: (offset: bigint) => Promise<Probe>): Promise<bigint> {
  let lo = low;
  let hi = high;
  while (lo < hi) {
    const mid = lo + (hi - lo) / 2n;
    const probe = await at(mid);
    // Nothing between mid and probe.offset: when it is late enough, the answer is at most mid.
    if (probe.receivedAt >= target) hi = mid;
    else lo = probe.offset + 1n < hi ? probe.offset + 1n : hi;
  }
  return lo;
}
