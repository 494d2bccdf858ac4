import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { BusMessage } from '../../../src/bus/bus';
import { EmbeddedBus } from '../../../src/bus/embedded/embedded-bus';
import { topicNames } from '../../../src/bus/topics';
import { silentLogger } from '../../../src/shared/logger';
import { eventually } from '../../helpers/fixtures';

const topics = topicNames('');
const NORMALIZER = 'normalizer-group';

function newBus(dataDir = mkdtempSync(join(tmpdir(), 'mistbridge-bus-')), maxBacklogBytes = 1 << 20, onQuarantine?: () => void): EmbeddedBus {
  return new EmbeddedBus({ dataDir, topics, maxBacklogBytes, rawGroup: NORMALIZER, maxLetterBytes: 1 << 20, logger: silentLogger(), onQuarantine });
}
const message = (text: string) => ({ key: 'k', value: Buffer.from(text) });
const checkpointOf = (dataDir: string): number => (JSON.parse(readFileSync(join(dataDir, 'raw', 'checkpoint.json'), 'utf8')) as { offset: number }).offset;

describe('EmbeddedBus', () => {
  it('lets topics take turns: a steady stream on one cannot starve another (incidents behind events)', async () => {
    const bus = newBus();
    await bus.start();
    const context = bus.contextFor(0, new AbortController().signal, 1);
    let go = (): void => undefined;
    const started = new Promise<void>((resolve) => (go = resolve));
    const seen: string[] = [];
    const consumer = await bus.consume({
      group: 'splunk',
      topics: [topics.events, topics.incidents],
      maxBatch: 1,
      handler: async (batch) => {
        await started;
        seen.push(...batch.map((m) => m.value!.toString()));
        // The stream goes on while the sink works.
        if (batch[0]!.topic === topics.events) await context.produce(topics.events, [message('more')]);
      },
    });
    for (let i = 0; i < 50; i++) await context.produce(topics.events, [message(`event ${i}`)]);
    await bus.produce(topics.incidents, [message('incident')]);
    go();
    await eventually(() => seen.includes('incident'), 'the incident delivered while events keep coming', 5000);
    expect(seen.indexOf('incident')).toBeLessThan(5);
    await consumer.stop();
    await bus.close();
  });

  it('starts a private view of a compacted topic with its whole state, even after every group trimmed it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mistbridge-bus-'));
    const first = newBus(dataDir);
    await first.start();
    await first.produce(topics.incidents, [{ key: 'a', value: Buffer.from('a1') }, { key: 'b', value: Buffer.from('b1') }]);
    await first.close();

    const bus = newBus(dataDir);
    const metrics = await bus.consume({ group: 'metrics', topics: [topics.incidents], handler: async () => undefined });
    await bus.start();
    await bus.produce(topics.incidents, [{ key: 'a', value: Buffer.from('a2') }]); // the start-up sweep's write
    await eventually(async () => (await bus.lag()).every((l) => l.lag === 0), 'the group committed (and trimmed) everything', 5000);
    const view = new Map<string, string>();
    const viewer = await bus.consume({
      group: 'view',
      topics: [topics.incidents],
      ephemeral: true,
      handler: async (batch: BusMessage[]) => void batch.forEach((m) => view.set(m.key, m.value!.toString())),
    });
    await eventually(() => view.size === 2, 'the view holds every incident', 5000);
    expect(Object.fromEntries(view)).toEqual({ a: 'a2', b: 'b1' });
    await bus.produce(topics.incidents, [{ key: 'c', value: Buffer.from('c1') }]);
    await eventually(() => view.get('c') === 'c1', 'and what follows', 5000);
    await Promise.all([viewer.stop(), metrics.stop()]);
    await bus.close();
  });

  it('never checkpoints the journal past what the normalizer group committed, even in a process without it', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mistbridge-bus-'));
    const first = newBus(dataDir);
    await first.start();
    await first.produce(topics.raw, [message('w0'), message('w1')]);
    await first.close();

    // A process with other roles (say, only the correlator) opens the same DATA_DIR and stops.
    const other = newBus(dataDir);
    const correlator = await other.consume({ group: 'correlator', topics: [topics.events], handler: async () => undefined });
    await other.start();
    await correlator.stop();
    await other.close();
    expect(checkpointOf(dataDir)).toBe(0);

    const full = newBus(dataDir);
    const normalized: string[] = [];
    const normalizer = await full.consume({ group: NORMALIZER, topics: [topics.raw], handler: async (batch) => void normalized.push(...batch.map((m) => m.value!.toString())) });
    await full.start();
    await eventually(() => normalized.length === 2, 'both webhooks normalized', 5000);
    await normalizer.stop();
    await full.close();
    expect(checkpointOf(dataDir)).toBe(2);
  });

  it('holds a producer of derived messages while the backlog is over its bound, and lets it go as the groups drain', async () => {
    const bus = newBus(undefined, 4096);
    await bus.start();
    const context = bus.contextFor(0, new AbortController().signal, 1);
    let release = (): void => undefined;
    const gate = new Promise<void>((resolve) => (release = resolve));
    const consumed: number[] = [];
    const sink = await bus.consume({
      group: 'sink',
      topics: [topics.events],
      handler: async (batch) => {
        await gate;
        consumed.push(batch.length);
      },
    });
    await context.produce(topics.events, [{ key: 'k', value: Buffer.alloc(5000) }]);
    let second = false;
    const produced = context.produce(topics.events, [{ key: 'k', value: Buffer.alloc(10) }]).then(() => (second = true));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(second).toBe(false);
    release();
    await produced;
    await eventually(() => consumed.reduce((a, b) => a + b, 0) === 2, 'both delivered', 5000);
    await sink.stop();
    await bus.close();
  });

  it('quarantines a webhook the normalizer died on in two runs (crash_loop) and goes on with the rest', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mistbridge-bus-'));
    const seen: string[][] = [];
    /** One run: its "normalizer" dies (hangs until the crash) on the poison webhook. */
    let quarantined = 0; // what mistbridge_dlq_total{reason="crash_loop"} counts
    const run = async (post: string[] = []): Promise<string[]> => {
      const bus = newBus(dataDir, 1 << 20, () => quarantined++);
      const normalized: string[] = [];
      seen.push(normalized);
      let died = (): void => undefined;
      const dying = new Promise<void>((resolve) => (died = resolve));
      await bus.consume({
        group: NORMALIZER,
        topics: [topics.raw],
        handler: async (batch) => {
          for (const m of batch) {
            if (m.value!.toString() === 'poison') {
              died();
              await new Promise(() => undefined);
            }
          }
          normalized.push(...batch.map((m) => m.value!.toString()));
        },
      });
      await bus.start();
      if (post.length > 0) await bus.produce(topics.raw, post.map(message));
      await Promise.race([dying, eventually(() => normalized.includes('w2'), 'w2', 5000)]);
      await bus.abandon();
      return normalized;
    };
    expect(await run(['w0', 'poison', 'w2'])).toEqual([]); // all three in one batch: nothing committed
    expect(await run()).toEqual(['w0']); // one at a time now: w0 passes, the poison kills it again
    expect(await run()).toEqual([]); // the second death at the poison itself
    const afterQuarantine = await run();
    expect(afterQuarantine).toEqual(['w2']);
    const letters = readFileSync(join(dataDir, 'dlq.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(letters).toEqual([expect.objectContaining({ stage: 'normalizer', reason: 'crash_loop', offset: '1', value_base64: Buffer.from('poison').toString('base64') })]);
    expect(letters[0]!.id).toMatch(/^[0-9a-f]{16}$/);
    expect(quarantined).toBe(1);
  });
});
