import fc from 'fast-check';
import { firstReceivedAtOrAfter, type Probe } from '../../../src/bus/kafka/offset-search';

/** A partition: records at increasing offsets (with gaps, as after compaction or control records) and non-decreasing received_at. */
const partition = fc
  .array(fc.tuple(fc.integer({ min: 1, max: 3 }), fc.integer({ min: 0, max: 5 })), { maxLength: 300 })
  .map((steps) => {
    const records: Probe[] = [];
    let offset = 7n;
    let at = 1_000;
    for (const [gap, dt] of steps) records.push({ offset: (offset += BigInt(gap)), receivedAt: (at += dt) });
    return records;
  });

describe('firstReceivedAtOrAfter', () => {
  it('finds what a linear scan finds, in at most log2(n) + 2 probes', async () => {
    await fc.assert(
      fc.asyncProperty(partition, fc.integer({ min: 900, max: 2_700 }), async (records, target) => {
        const low = records[0]?.offset ?? 7n;
        const high = records.length > 0 ? records.at(-1)!.offset + 1n : low;
        let probes = 0;
        const at = async (offset: bigint): Promise<Probe> => {
          probes++;
          return records.find((r) => r.offset >= offset)!;
        };
        const found = await firstReceivedAtOrAfter(low, high, target, at);
        const expected = records.find((r) => r.receivedAt >= target)?.offset ?? high;
        // Reading from `found` reaches the expected record first (a gap before it holds nothing).
        expect(records.find((r) => r.offset >= found)?.offset ?? high).toBe(expected);
        expect(probes).toBeLessThanOrEqual(Math.ceil(Math.log2(Number(high - low) + 1)) + 2);
      }),
      { numRuns: 300 },
    );
  });

  it('probes nothing in an empty partition', async () => {
    expect(await firstReceivedAtOrAfter(5n, 5n, 0, () => Promise.reject(new Error('probed')))).toBe(5n);
  });
});
