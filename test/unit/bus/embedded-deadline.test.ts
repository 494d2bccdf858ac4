import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BusUnavailableError } from '../../../src/bus/bus';
import { EmbeddedBus } from '../../../src/bus/embedded/embedded-bus';
import { Journal } from '../../../src/bus/embedded/journal';
import { topicNames } from '../../../src/bus/topics';
import { silentLogger } from '../../../src/shared/logger';
import { eventually } from '../../helpers/fixtures';

describe('EmbeddedBus: a raw write past its deadline (a stalled disk)', () => {
  const topics = topicNames('');

  it('fails the caller, stays unwritable until the journal answers, then delivers the write', async () => {
    const bus = new EmbeddedBus({ dataDir: mkdtempSync(join(tmpdir(), 'mistbridge-deadline-')), topics, maxBacklogBytes: 1 << 20, rawGroup: 'g', maxLetterBytes: 1 << 20, logger: silentLogger() });
    const seen: string[] = [];
    const consumer = await bus.consume({ group: 'g', topics: [topics.raw], handler: async (batch) => void seen.push(...batch.map((m) => m.value!.toString())) });
    await bus.start();
    let release = (): void => undefined;
    const stalled = new Promise<void>((resolve) => (release = resolve));
    const append = Journal.prototype.append;
    const spy = jest.spyOn(Journal.prototype, 'append').mockImplementationOnce(async function (this: Journal, records) {
      await stalled;
      return append.call(this, records);
    });
    try {
      await expect(bus.produce(topics.raw, [{ key: 'k', value: Buffer.from('late') }], { timeoutMs: 50 })).rejects.toThrow(BusUnavailableError);
      expect(bus.writable()).toMatchObject({ ok: false, reason: expect.stringMatching(/overdue/) });
      release();
      await eventually(() => seen.includes('late'), 'the late write delivered', 5000);
      expect(bus.writable().ok).toBe(true);
      await bus.produce(topics.raw, [{ key: 'k', value: Buffer.from('on time') }], { timeoutMs: 5000 });
      await eventually(() => seen.includes('on time'), 'the next write delivered', 5000);
    } finally {
      spy.mockRestore();
      await consumer.stop();
      await bus.close();
    }
  });
});
