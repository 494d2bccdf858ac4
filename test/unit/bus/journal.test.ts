import { appendFileSync, mkdtempSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
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
    expect(journal.open().replay).toEqual([]);
    const [a, b] = await Promise.all([journal.append([record(0), record(1)]), journal.append([record(2)])]);
    expect([...a, ...b].map((w) => w.offset)).toEqual([0, 1, 2]);
    expect(journal.read(b[0]!.location).toString()).toBe('{"n":2}');
    journal.checkpoint(1);
    await journal.close();

    const reopened = new Journal(dir);
    const { replay } = reopened.open();
    // Values stay on disk until read: a replay holds the records' places only.
    expect(replay.map((r) => [r.offset, r.key, reopened.read(r.location).toString(), r.headers.received_at])).toEqual([
      [1, 'k1', '{"n":1}', '1'],
      [2, 'k2', '{"n":2}', '2'],
    ]);
    expect((await reopened.append([record(3)])).map((w) => w.offset)).toEqual([3]);
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
    expect(reopened.open().replay.map((r) => r.offset)).toEqual([0]);
    expect((await reopened.append([record(1)])).map((w) => w.offset)).toEqual([1]);
    await reopened.close();
    expect(new Journal(dir).open().replay.map((r) => r.key)).toEqual(['k0', 'k1']);
  });

  it('fails appends when the disk refuses', async () => {
    const journal = new Journal(dir);
    journal.open();
    await journal.append([record(0)]);
    await journal.close(); // closed file descriptor: the next write fails like a broken disk
    await expect(journal.append([record(1)])).rejects.toThrow();
    expect(journal.lastError).not.toBeNull();
  });

  it('rolls segments and deletes those wholly processed, the current one too once everything in it was (a small disk does not stay full)', async () => {
    const journal = new Journal(dir);
    journal.open();
    const big = (n: number) => ({ key: `k${n}`, headers: {}, value: Buffer.alloc(300 * 1024, n) });
    const written = await journal.append([big(0), big(1), big(2)]);
    expect(readdirSync(dir).filter((f) => f.endsWith('.log'))).toHaveLength(1);
    journal.checkpoint(written[2]!.offset + 1);
    const left = readdirSync(dir).filter((f) => f.endsWith('.log'));
    expect(left).toHaveLength(1);
    expect(statSync(join(dir, left[0]!)).size).toBe(0);
    expect((await journal.append([record(9)])).map((w) => w.offset)).toEqual([3]);
    await journal.close();
    expect(new Journal(dir).open().replay.map((r) => r.key)).toEqual(['k9']);
  });

  it('a death during an attempt on several webhooks narrows it down (one at a time); two deaths on one webhook quarantine it', async () => {
    const first = new Journal(dir);
    first.open();
    await first.append([record(0), record(1), record(2), record(3)]);
    first.checkpoint(1, 1); // webhook 0 done
    first.attempt({ from: 1, until: 4 });
    await first.abandon(); // kill -9 during the attempt on 1..3: one of them, not known which

    const second = new Journal(dir);
    const start2 = second.open();
    expect(start2).toMatchObject({ deaths: 0, quarantine: null, carefulFrom: 1, carefulUntil: 4 });
    expect(start2.replay.map((r) => r.offset)).toEqual([1, 2, 3]);
    second.attempt({ from: 1, until: 2 });
    second.checkpoint(1, 2); // webhook 1 alone went through
    second.attempt({ from: 2, until: 3 });
    await second.abandon(); // died on webhook 2 alone: its first death

    const third = new Journal(dir);
    expect(third.open()).toMatchObject({ deaths: 1, quarantine: null, carefulFrom: 2, carefulUntil: 3 });
    third.attempt({ from: 2, until: 3 });
    await third.abandon(); // died on webhook 2 again: the second death there

    const fourth = new Journal(dir);
    const start4 = fourth.open();
    expect(start4.quarantine?.offset).toBe(2);
    expect(start4.replay.map((r) => r.offset)).toEqual([1, 3]);
    expect(start4.deaths).toBe(0);
    await fourth.close();

    // A clean stop is not a death, whatever was left unfinished.
    const fifth = new Journal(dir);
    expect(fifth.open()).toMatchObject({ deaths: 0, quarantine: null });
    await fifth.close();
  });

  it('does not count a death while the normalizer was parked on back-pressure (it was not processing the webhook), nor with no attempt open', async () => {
    for (let run = 0; run < 3; run++) {
      const journal = new Journal(dir);
      const start = journal.open();
      expect(start).toMatchObject({ deaths: 0, quarantine: null });
      if (run === 0) await journal.append([record(0)]);
      journal.attempt({ from: 0, until: 1 });
      journal.park(true);
      await journal.abandon();
    }
    const idle = new Journal(dir);
    idle.open();
    idle.attempt(null);
    await idle.abandon();
    expect(new Journal(dir).open()).toMatchObject({ deaths: 0, quarantine: null });
  });

  it('counts deaths once per start, in the checkpoint, and reads a 0.1 checkpoint as a clean start', async () => {
    writeFileSync(join(dir, 'checkpoint.json'), JSON.stringify({ offset: 0 }));
    const journal = new Journal(dir);
    expect(journal.open()).toMatchObject({ deaths: 0, quarantine: null });
    expect(JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8'))).toMatchObject({ format: 2, offset: 0, clean: false, start: { deaths: 0 } });
    await journal.close();
    expect(JSON.parse(readFileSync(join(dir, 'checkpoint.json'), 'utf8'))).toMatchObject({ clean: true });
  });
});

describe('Journal archive (RAW_RETENTION_S, RAW_RETENTION_BYTES): normalized segments kept for redeliver', () => {
  const MB = 1024 * 1024;
  async function twoSegments(archive?: { maxAgeMs: number; maxBytes: number }): Promise<{ dir: string; journal: Journal }> {
    const dir = mkdtempSync(join(tmpdir(), 'mistbridge-archive-'));
    const journal = new Journal(dir, archive);
    journal.open();
    // segments roll at 8 MiB: nine 1 MiB webhooks make two
    for (let i = 0; i < 9; i++) await journal.append([{ key: `k${i}`, headers: { received_at: String(i) }, value: Buffer.alloc(MB, 120) }]);
    return { dir, journal };
  }
  const segments = (dir: string): number => readdirSync(dir).filter((f) => f.endsWith('.log')).length;

  it('without an archive, a normalized segment is deleted (as before)', async () => {
    const { dir, journal } = await twoSegments();
    expect(segments(dir)).toBe(2);
    journal.checkpoint(9, 9);
    expect(segments(dir)).toBe(1);
    await journal.close();
  });

  it('with one, it is kept within its bytes and age, and never read at start; beyond them the oldest goes', async () => {
    const kept = await twoSegments({ maxAgeMs: 3_600_000, maxBytes: 64 * MB });
    kept.journal.checkpoint(9, 9);
    expect(segments(kept.dir)).toBe(2);
    expect(Journal.segmentFiles(kept.dir).map((s) => s.start)).toEqual([0, 8]);
    await kept.journal.close();
    const reopened = new Journal(kept.dir, { maxAgeMs: 3_600_000, maxBytes: 64 * MB });
    expect(reopened.open().replay).toEqual([]); // archived: nothing to replay
    await reopened.close();

    const small = await twoSegments({ maxAgeMs: 3_600_000, maxBytes: MB });
    small.journal.checkpoint(9, 9);
    expect(segments(small.dir)).toBe(1); // over its bytes: dropped
    await small.journal.close();
  });
});
