import type { OutgoingMessage } from '../../../src/bus/bus';
import { kafkaDlq } from '../../../src/dlq/api';
import { deadLetter } from '../../../src/dlq/dead-letter';
import { marker } from '../../../src/dlq/letters';

/** The DLQ topic as the console reads it on Kafka: every read joins a consumer group, so reads are shared and reused. */
describe('kafkaDlq', () => {
  const letter = (offset: string): OutgoingMessage =>
    deadLetter('splunk', 'hec_rejected', 'HTTP 400', { topic: 'mist.events', partition: 0, offset, key: 'k', value: Buffer.from('x'), headers: {} }, { now: 1_000, maxValueBytes: 1024 });

  function topic() {
    const records: OutgoingMessage[] = [letter('1')];
    let reads = 0;
    let release: (() => void) | null = null;
    const bus = {
      readToEnd: async (_topic: string, each: (m: { key: string; value: Buffer | null }) => void) => {
        reads++;
        await new Promise<void>((resolve) => (release = resolve));
        for (const r of records) each({ key: r.key, value: r.value });
      },
      produce: async (_topic: string, messages: OutgoingMessage[]) => void records.push(...messages),
    };
    return { bus, records, reads: () => reads, release: () => release?.() };
  }

  it('answers concurrent and repeated asks with one read for 10 s, then reads again', async () => {
    const { bus, reads, release } = topic();
    let now = 0;
    const access = kafkaDlq(bus, 'mist.dlq', () => now);
    const asks = [access.letters(), access.letters()];
    release();
    expect((await Promise.all(asks)).map((l) => l.length)).toEqual([1, 1]);
    now = 9_999;
    await access.letters();
    expect(reads()).toBe(1);
    now = 10_000;
    const again = access.letters();
    release();
    await again;
    expect(reads()).toBe(2);
  });

  it('reads again after a redrive marker, and never reuses a failed read', async () => {
    const { bus, reads, release } = topic();
    const access = kafkaDlq(bus, 'mist.dlq', () => 0);
    const first = access.letters();
    release();
    const [only] = await first;
    await access.mark([marker(only!.id, 2)]);
    const after = access.letters();
    release();
    expect(await after).toEqual([expect.objectContaining({ id: only!.id, redriven_at: 2 })]);
    expect(reads()).toBe(2);

    let fail = true;
    const failing = kafkaDlq({ ...bus, readToEnd: async () => { if (fail) throw new Error('broker down'); } }, 'mist.dlq', () => 0);
    await expect(failing.letters()).rejects.toThrow('broker down');
    fail = false;
    await expect(failing.letters()).resolves.toEqual([]);
  });
});
