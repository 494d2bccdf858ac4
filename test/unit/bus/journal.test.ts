import { appendFileSync, mkdtempSync, readdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Journal } from '../../../src/bus/embedded/journal';

const record = (n: number) => ({ key: `k${n}`, headers: { received_at: String(n) }, value: Buffer.from(`{"n":${n}}`) });

describe('Journal: the durable half of the embedded bus', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'mistbridge-journal-'));
  });

  it('gives offsets in order and replays everything not checkpointed', async () => {
    const journal = new Journal(dir);
    expect(journal.open()).toEqual([]);
    const [a, b] = await Promise.all([journal.append([record(0), record(1)]), journal.append([record(2)])]);
    expect([...a, ...b]).toEqual([0, 1, 2]);
    journal.checkpoint(1);
    await journal.close();

    const reopened = new Journal(dir);
    const replay = reopened.open();
    expect(replay.map((r) => [r.offset, r.key, r.value.toString(), r.headers.received_at])).toEqual([
      [1, 'k1', '{"n":1}', '1'],
      [2, 'k2', '{"n":2}', '2'],
    ]);
    expect(await reopened.append([record(3)])).toEqual([3]);
    await reopened.close();
  });

  it('drops a torn tail (a write that never reached fsync) and keeps appending after it', async () => {
    const journal = new Journal(dir);
    journal.open();
    await journal.append([record(0)]);
    await journal.close();
    const segment = readdirSync(dir).find((f) => f.endsWith('.log'))!;
    appendFileSync(join(dir, segment), Buffer.from([0, 0, 0, 50, 1, 2, 3]));

    const reopened = new Journal(dir);
    expect(reopened.open().map((r) => r.offset)).toEqual([0]);
    expect(await reopened.append([record(1)])).toEqual([1]);
    await reopened.close();
    expect(new Journal(dir).open().map((r) => r.key)).toEqual(['k0', 'k1']);
  });

  it('fails appends when the disk refuses', async () => {
    const journal = new Journal(dir);
    journal.open();
    await journal.append([record(0)]);
    await journal.close(); // closed file descriptor: the next write fails like a broken disk
    await expect(journal.append([record(1)])).rejects.toThrow();
    expect(journal.lastError).not.toBeNull();
  });
});
