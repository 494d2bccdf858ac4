import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompactedStore, MAX_PENDING_RECORDS } from '../../../src/bus/embedded/compacted-store';

const value = (text: string): Buffer => Buffer.from(text);

describe('CompactedStore: the embedded compacted topic', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mistbridge-store-'));
  });
  const open = (): CompactedStore => {
    const store = new CompactedStore(dir, 'mist.incidents');
    store.load();
    return store;
  };

  it('never reuses a sequence number, even after tombstones were dropped and it restarted twice', async () => {
    const first = open();
    expect(await first.append([{ key: 'a', headers: {}, value: value('a1') }, { key: 'b', headers: {}, value: value('b1') }])).toEqual([0, 1]);
    expect(await first.append([{ key: 'b', headers: {}, value: null }])).toEqual([2]);
    first.commit('mistbridge-splunk', 3); // the sink has seen everything up to the tombstone
    open(); // restart 1: the tombstone is compacted away
    const third = open(); // restart 2
    const [next] = await third.append([{ key: 'c', headers: {}, value: value('c1') }]);
    // A reused number (1 or 2) would sit below what the group committed: that write would never reach it.
    expect(next).toBeGreaterThanOrEqual(third.committed('mistbridge-splunk'));
    expect(next).toBe(3);
    expect(open().live().map((r) => [r.key, r.seq])).toEqual([
      ['a', 0],
      ['c', 3],
    ]);
  });

  it('compacts while running once dead lines outnumber live keys (it used to grow until the next start)', async () => {
    const store = open();
    for (let i = 0; i < 3000; i++) await store.append([{ key: `k${i % 10}`, headers: {}, value: value(`v${i}`) }]);
    const lines = readFileSync(join(dir, 'mist.incidents.log'), 'utf8').trim().split('\n');
    expect(lines.length).toBeLessThan(1200);
    expect(open().live().map((r) => r.value.toString())).toEqual(Array.from({ length: 10 }, (_, i) => `v${2990 + i}`));
  });

  it('keeps a superseded record until every group committed it, across restarts (a lagging group still reads it)', async () => {
    const store = open();
    await store.append([{ key: 'site', headers: {}, value: value('A open') }]);
    store.commit('mistbridge-notify-hook', 1);
    store.commit('mistbridge-splunk', 1);
    // A's resolution, A forgotten (a tombstone), then a new incident on the same key; notify had
    // committed none of them when the process died.
    await store.append([{ key: 'site', headers: {}, value: value('A resolved') }]);
    await store.append([{ key: 'site', headers: {}, value: null }]);
    await store.append([{ key: 'site', headers: {}, value: value('B open') }]);
    store.commit('mistbridge-splunk', 4);
    const reopened = open();
    expect(reopened.live().map((r) => r.value.toString())).toEqual(['B open']);
    expect(reopened.since(reopened.committed('mistbridge-notify-hook')).map((r) => [r.seq, r.value?.toString() ?? null])).toEqual([
      [1, 'A resolved'],
      [2, null],
      [3, 'B open'],
    ]);
    // Once every group has them, compaction drops them.
    reopened.commit('mistbridge-notify-hook', 4);
    expect(reopened.since(0).map((r) => r.value?.toString())).toEqual(['B open']);
    expect(open().since(0).map((r) => r.value?.toString())).toEqual(['B open']);
  });

  it('never keeps a superseded quiet record (a counter-only incident version): a later one of its key says more', async () => {
    const store = open();
    store.commit('mistbridge-splunk', 0);
    await store.append([{ key: 'k', headers: { 'mistbridge-output': 'quiet' }, value: value('count 2') }]);
    await store.append([{ key: 'k', headers: { 'mistbridge-output': 'quiet' }, value: value('count 3') }]);
    expect(store.since(0).map((r) => r.value?.toString())).toEqual(['count 3']);
    expect(open().since(0).map((r) => r.value?.toString())).toEqual(['count 3']);
  });

  it('keeps at most MAX_PENDING_RECORDS superseded records for a group that stays behind', async () => {
    const store = open();
    store.commit('mistbridge-gone', 0);
    for (let i = 0; i < MAX_PENDING_RECORDS + 1500; i += 500) await store.append(Array.from({ length: 500 }, (_, j) => ({ key: 'k', headers: {}, value: value(`v${i + j}`) })));
    const since = open().since(0);
    expect(since).toHaveLength(MAX_PENDING_RECORDS + 1);
    expect(since[since.length - 1]!.value?.toString()).toBe(`v${MAX_PENDING_RECORDS + 1499}`);
  });

  it('reads what 0.1 wrote: record lines without a format line, bare group offsets', () => {
    writeFileSync(join(dir, 'mist.incidents.log'), [0, 1, 2].map((s) => `${JSON.stringify({ s, k: `k${s % 2}`, h: {}, v: value(`v${s}`).toString('base64') })}\n`).join(''));
    writeFileSync(join(dir, 'mist.incidents.offsets.json'), JSON.stringify({ 'mistbridge-metrics': 3, 'mistbridge-splunk': 1 }));
    const store = new CompactedStore(dir, 'mist.incidents');
    expect(store.load().map((r) => [r.key, r.value.toString()])).toEqual([
      ['k1', 'v1'],
      ['k0', 'v2'],
    ]);
    expect(store.committed('mistbridge-splunk')).toBe(1);
    expect(store.nextSeq).toBe(3);
    expect(JSON.parse(readFileSync(join(dir, 'mist.incidents.log'), 'utf8').split('\n')[0]!)).toEqual({ format: 2, next: 3 });
  });

  it('refuses a store written by a newer format instead of misreading it', () => {
    writeFileSync(join(dir, 'mist.incidents.log'), `${JSON.stringify({ format: 99, next: 5 })}\n`);
    expect(() => new CompactedStore(dir, 'mist.incidents').load()).toThrow(/newer mistbridge/);
  });
});
