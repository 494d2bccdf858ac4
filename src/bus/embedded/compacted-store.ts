import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { appendFile, open } from 'node:fs/promises';
import { dirname, join } from 'node:path';

export interface StoredRecord {
  seq: number;
  key: string;
  headers: Record<string, string>;
  value: Buffer;
}

/**
 * The embedded stand-in for a compacted Kafka topic (mist.incidents): an fsynced JSON-lines log of
 * writes, compacted to the latest value per key at every start, plus the committed position of each
 * consumer group so that a restart delivers what a group had not finished.
 */
export class CompactedStore {
  readonly #log: string;
  readonly #offsets: string;
  #nextSeq = 0;
  #committed: Record<string, number> = {};

  constructor(dir: string, topic: string) {
    this.#log = join(dir, `${topic}.log`);
    this.#offsets = join(dir, `${topic}.offsets.json`);
  }

  /** Live records (tombstoned keys removed), oldest write first; rewrites the log with just those. */
  load(): StoredRecord[] {
    mkdirSync(dirname(this.#log), { recursive: true });
    const latest = new Map<string, StoredRecord | null>();
    let text = '';
    try {
      text = readFileSync(this.#log, 'utf8');
    } catch {
      // first start
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      let parsed: { s: number; k: string; h: Record<string, string>; v: string | null };
      try {
        parsed = JSON.parse(line) as typeof parsed;
      } catch {
        break; // torn last line: never acknowledged
      }
      this.#nextSeq = Math.max(this.#nextSeq, parsed.s + 1);
      latest.delete(parsed.k); // keep write order: a rewritten key moves to the end
      latest.set(parsed.k, parsed.v === null ? null : { seq: parsed.s, key: parsed.k, headers: parsed.h, value: Buffer.from(parsed.v, 'base64') });
    }
    const live = [...latest.values()].filter((r): r is StoredRecord => r !== null);
    const tmp = `${this.#log}.tmp`;
    writeFileSync(tmp, live.map(line).join(''));
    const fd = openSync(tmp, 'r');
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, this.#log);
    try {
      this.#committed = JSON.parse(readFileSync(this.#offsets, 'utf8')) as Record<string, number>;
    } catch {
      this.#committed = {};
    }
    return live;
  }

  /** Appends and fsyncs; resolves with the records' sequence numbers. */
  async append(records: Array<{ key: string; headers: Record<string, string>; value: Buffer | null }>): Promise<number[]> {
    const seqs = records.map(() => this.#nextSeq++);
    await appendFile(this.#log, records.map((r, i) => line({ seq: seqs[i]!, key: r.key, headers: r.headers, value: r.value })).join(''));
    const handle = await open(this.#log, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    return seqs;
  }

  /** The first sequence number `group` has not committed (0 = everything is new to it). */
  committed(group: string): number {
    return this.#committed[group] ?? 0;
  }

  get nextSeq(): number {
    return this.#nextSeq;
  }

  /** Losing this write only means redelivering a few incident writes (same content, same version). */
  commit(group: string, seq: number): void {
    if ((this.#committed[group] ?? -1) >= seq) return;
    this.#committed[group] = seq;
    try {
      writeFileSync(`${this.#offsets}.tmp`, JSON.stringify(this.#committed));
      renameSync(`${this.#offsets}.tmp`, this.#offsets);
    } catch {
      // see above
    }
  }
}

function line(record: { seq: number; key: string; headers: Record<string, string>; value: Buffer | null }): string {
  return `${JSON.stringify({ s: record.seq, k: record.key, h: record.headers, v: record.value === null ? null : record.value.toString('base64') })}\n`;
}
