import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { appendFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { syncPath, syncPathSync } from '../../shared/fsync';
import { SerialQueue } from '../../shared/serial';

export interface StoredRecord {
  seq: number;
  key: string;
  headers: Record<string, string>;
  value: Buffer;
}

/**
 * On-disk format: 1 = mistbridge 0.1 (record lines only; the next sequence number was derived from
 * the records, so tombstones dropped at a rewrite let it fall back); 2 starts the log with
 * `{"format":2,"next":N}` and the offsets file with `{"format":2,"groups":{...}}`.
 */
export const STORE_FORMAT = 2;

/** Rewrite once the log holds this many more lines than live keys (and at least this many dead lines). */
const COMPACT_MIN_DEAD_LINES = 1000;

/**
 * The embedded stand-in for a compacted Kafka topic (mist.incidents): an fsynced JSON-lines log of
 * writes, compacted to the latest value per key at start and whenever dead lines outnumber live
 * ones, plus the committed position of each consumer group so that a restart delivers what a group
 * had not finished. Sequence numbers never go back: the next one is persisted with every rewrite.
 */
export class CompactedStore {
  readonly #log: string;
  readonly #offsets: string;
  #nextSeq = 0;
  #committed: Record<string, number> = {};
  /** The latest record of every live key, in write order (what the next rewrite writes). */
  readonly #latest = new Map<string, StoredRecord>();
  #lines = 0;
  /** Appends and rewrites, one at a time. */
  readonly #queue = new SerialQueue();
  #dead = false;

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
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
    }
    for (const line of text.split('\n')) {
      if (!line) continue;
      let parsed: { s: number; k: string; h: Record<string, string>; v: string | null; format?: number; next?: number };
      try {
        parsed = JSON.parse(line) as typeof parsed;
      } catch {
        break; // torn last line: never acknowledged
      }
      if (parsed.format !== undefined) {
        if (parsed.format > STORE_FORMAT) throw new Error(`${this.#log} was written by a newer mistbridge (format ${parsed.format})`);
        this.#nextSeq = Math.max(this.#nextSeq, parsed.next ?? 0);
        continue;
      }
      this.#nextSeq = Math.max(this.#nextSeq, parsed.s + 1);
      latest.delete(parsed.k); // keep write order: a rewritten key moves to the end
      latest.set(parsed.k, parsed.v === null ? null : { seq: parsed.s, key: parsed.k, headers: parsed.h, value: Buffer.from(parsed.v, 'base64') });
    }
    for (const record of latest.values()) if (record) this.#latest.set(record.key, record);
    const tmp = `${this.#log}.tmp`;
    writeFileSync(tmp, this.#content());
    syncPathSync(tmp);
    renameSync(tmp, this.#log);
    this.#lines = this.#latest.size;
    this.#committed = readOffsets(this.#offsets);
    return this.live();
  }

  /** The latest record of every live key, oldest write first. */
  live(): StoredRecord[] {
    return [...this.#latest.values()];
  }

  /**
   * Appends and fsyncs; resolves with the records' sequence numbers. The log is rewritten in the
   * same turn once dead lines outnumber live keys (it used to grow until the next start).
   */
  append(records: Array<{ key: string; headers: Record<string, string>; value: Buffer | null }>): Promise<number[]> {
    const seqs = records.map(() => this.#nextSeq++);
    const text = records.map((r, i) => line({ seq: seqs[i]!, key: r.key, headers: r.headers, value: r.value })).join('');
    return this.#serial(async () => {
      await appendFile(this.#log, text);
      await syncPath(this.#log);
      this.#lines += records.length;
      records.forEach((r, i) => {
        this.#latest.delete(r.key); // a rewritten key moves to the end
        if (r.value !== null) this.#latest.set(r.key, { seq: seqs[i]!, key: r.key, headers: r.headers, value: r.value });
      });
      if (this.#lines - this.#latest.size >= Math.max(COMPACT_MIN_DEAD_LINES, this.#latest.size)) await this.#rewrite();
      return seqs;
    });
  }

  async #rewrite(): Promise<void> {
    const tmp = `${this.#log}.tmp`;
    await writeFile(tmp, this.#content());
    await syncPath(tmp);
    await rename(tmp, this.#log);
    this.#lines = this.#latest.size;
  }

  /** The first sequence number `group` has not committed (0 = everything is new to it). */
  committed(group: string): number {
    return this.#committed[group] ?? 0;
  }

  /** Whether `group` ever committed here. */
  knows(group: string): boolean {
    return this.#committed[group] !== undefined;
  }

  get nextSeq(): number {
    return this.#nextSeq;
  }

  /** Losing this write only means redelivering a few incident writes (same content, same version). */
  commit(group: string, seq: number): void {
    if (this.#dead || (this.#committed[group] ?? -1) >= seq) return;
    this.#committed[group] = seq;
    try {
      writeFileSync(`${this.#offsets}.tmp`, JSON.stringify({ format: STORE_FORMAT, groups: this.#committed }));
      renameSync(`${this.#offsets}.tmp`, this.#offsets);
    } catch {
      // see above
    }
  }

  /** An in-process crash (tests): nothing more is written once the write in flight settled. */
  async abandon(): Promise<void> {
    this.#dead = true;
    await this.#queue.idle();
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    return this.#queue.run(() => (this.#dead ? Promise.reject(new Error('store abandoned')) : work()));
  }

  #content(): string {
    return `${JSON.stringify({ format: STORE_FORMAT, next: this.#nextSeq })}\n${this.live().map(line).join('')}`;
  }
}

function line(record: { seq: number; key: string; headers: Record<string, string>; value: Buffer | null }): string {
  return `${JSON.stringify({ s: record.seq, k: record.key, h: record.headers, v: record.value === null ? null : record.value.toString('base64') })}\n`;
}

/** Format 2 `{"format":2,"groups":{...}}`, or 0.1's bare `{group: seq}`. */
function readOffsets(path: string): Record<string, number> {
  try {
    const parsed = JSON.parse(readFileSync(path, 'utf8')) as { format?: number; groups?: Record<string, number> } & Record<string, unknown>;
    if (typeof parsed.format === 'number') return { ...(parsed.groups ?? {}) };
    return Object.fromEntries(Object.entries(parsed).filter((e): e is [string, number] => typeof e[1] === 'number'));
  } catch {
    return {};
  }
}
