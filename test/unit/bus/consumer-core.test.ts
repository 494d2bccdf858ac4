import type { BusMessage } from '../../../src/bus/bus';
import { AssignmentGate, CommitQueue, chunkRunner } from '../../../src/bus/consumer-core';
import { chunks } from '../../../src/shared/chunks';
import { IncidentState } from '../../../src/correlator/incident-state';
import { silentLogger } from '../../../src/shared/logger';

const deferred = () => {
  let resolve = (): void => undefined;
  let reject = (_err: Error): void => undefined;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
};

describe('AssignmentGate: assignment generations', () => {
  it('an older rebuild that ends after a newer one began changes nothing (overlapping rebuilds)', async () => {
    const gate = new AssignmentGate();
    const older = deferred();
    const newer = deferred();
    const failures: Error[] = [];
    const first = gate.assign(() => older.promise, (err) => failures.push(err));
    const second = gate.assign(() => newer.promise, (err) => failures.push(err));
    older.resolve();
    await first;
    expect(gate.ready()).toBe(false); // generation 1 is done, but 2 is current
    expect(gate.rebuilding()).toBe(true);
    newer.resolve();
    await second;
    expect(gate.ready()).toBe(true);
    expect(gate.generation).toBe(2);
    expect(failures).toEqual([]);
  });

  it('a later rebuild that fails leaves it unready (it used to stay ready on the previous one), and only that failure is reported', async () => {
    const gate = new AssignmentGate();
    const failures: string[] = [];
    await gate.assign(async () => undefined, (err) => failures.push(err.message));
    expect(gate.ready()).toBe(true);
    const stale = deferred();
    const olderRun = gate.assign(() => stale.promise, (err) => failures.push(err.message));
    await gate.assign(async () => Promise.reject(new Error('snapshot timed out')), (err) => failures.push(err.message));
    expect(gate.ready()).toBe(false);
    stale.reject(new Error('superseded'));
    await olderRun;
    expect(failures).toEqual(['snapshot timed out']);
  });

  it('a rebalance revokes the generation until the next assignment is rebuilt', async () => {
    const gate = new AssignmentGate();
    await gate.assign(async () => undefined, () => undefined);
    gate.revoke();
    expect(gate.ready()).toBe(false);
    expect(gate.rebuilding()).toBe(false);
    const started = Date.now();
    await gate.settled(30); // nothing pending: a real wait, never a busy loop
    expect(Date.now() - started).toBeGreaterThanOrEqual(25);
  });
});

describe('IncidentState: one owner of incident state', () => {
  it('refuses a batch of another generation and skips a sweep while a rebuild runs', async () => {
    const state = new IncidentState();
    const loading = deferred();
    const rebuilt = state.rebuild(2, () => loading.promise);
    let swept = false;
    const sweep = state.ifCurrent(1, async () => void (swept = true));
    loading.resolve();
    await rebuilt;
    await sweep;
    expect(swept).toBe(false);
    await expect(state.apply(1, async () => 'applied')).rejects.toThrow(/generation/);
    await expect(state.apply(2, async () => 'applied')).resolves.toBe('applied');
    await state.ifCurrent(2, async () => void (swept = true));
    expect(swept).toBe(true);
  });

  it('runs mutations one at a time, in order', async () => {
    const state = new IncidentState();
    await state.rebuild(1, async () => undefined);
    const order: string[] = [];
    const slow = state.apply(1, async () => {
      await new Promise((resolve) => setTimeout(resolve, 20));
      order.push('batch');
    });
    const sweep = state.ifCurrent(1, async () => void order.push('sweep'));
    await Promise.all([slow, sweep]);
    expect(order).toEqual(['batch', 'sweep']);
  });
});

describe('chunks and the chunk runner', () => {
  const message = (bytes: number): BusMessage => ({ topic: 't', partition: 0, offset: '0', key: 'k', value: Buffer.alloc(bytes), headers: {} });

  const size = (m: BusMessage): number => m.value!.length;

  it('bounds chunks by count and bytes, a chunk holding at least one message', () => {
    expect(chunks([1, 1, 1, 1, 1].map(message), size, 2).map((c) => c.length)).toEqual([2, 2, 1]);
    expect(chunks([60, 60, 10, 200, 10].map(message), size, 100, 100).map((c) => c.map((m) => m.value!.length))).toEqual([[60], [60, 10], [200], [10]]);
  });

  it('offers a failing chunk again until it succeeds, and lets go once the partition is no longer owned', async () => {
    let calls = 0;
    const runner = chunkRunner({
      group: 'g',
      logger: silentLogger(),
      handler: async () => {
        if (++calls < 3) throw new Error('broker hiccup');
      },
    });
    const context = { produce: async () => undefined, signal: new AbortController().signal, generation: 1 };
    // backoff starts at 200 ms full jitter: two failures take well under two seconds
    expect(await runner.run([message(1)], context, { topic: 't', partition: 0, stillOwner: () => true })).toEqual([]);
    expect(calls).toBe(3);
    let owned = true;
    const failing = chunkRunner({
      group: 'g',
      logger: silentLogger(),
      handler: async () => {
        owned = false;
        throw new Error('rebalance in progress');
      },
    });
    expect(await failing.run([message(1)], context, { topic: 't', partition: 0, stillOwner: () => owned })).toBeNull();
  });
});

describe('CommitQueue: commits after their effects, in order', () => {
  it('commits in order once each effect and all before it are done', async () => {
    const committed: number[] = [];
    const queue = new CommitQueue<number>((p) => void committed.push(p), (err) => { throw err; });
    let finishFirst!: () => void;
    const first = new Promise<void>((resolve) => (finishFirst = resolve));
    await queue.add(1, [first]);
    await queue.add(2, [Promise.resolve()]);
    await new Promise((resolve) => setImmediate(resolve));
    expect(committed).toEqual([]); // 2's effect is done, but 1's is not
    finishFirst();
    await queue.drained();
    expect(committed).toEqual([1, 2]);
  });

  it('drained() waits for a commit already under way without starving the event loop', async () => {
    // A commit that needs a timer (a broker round trip): a drain that spun on microtasks never let it finish.
    const committed: number[] = [];
    const queue = new CommitQueue<number>(
      (p) => new Promise<void>((resolve) => setTimeout(() => { committed.push(p); resolve(); }, 20)),
      (err) => { throw err; },
    );
    await queue.add(1, [Promise.resolve()]);
    await queue.add(2, [new Promise((resolve) => setTimeout(resolve, 5))]);
    await queue.drained();
    expect(committed).toEqual([1, 2]);
  });

  it('a failed commit is reported once and ends the queue', async () => {
    const failures: string[] = [];
    const queue = new CommitQueue<number>(() => Promise.reject(new Error('refused')), (err) => void failures.push(err.message));
    await queue.add(1, [Promise.resolve()]);
    await queue.add(2, [Promise.resolve()]);
    await queue.drained();
    expect(failures).toEqual(['refused']);
  });
});
