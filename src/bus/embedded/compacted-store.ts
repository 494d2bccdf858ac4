import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { appendFile, rename, writeFile } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { syncPath, syncPathSync } from '../../shared/fsync';
import { isQuiet } from '../bus';
import { SerialQueue } from '../../shared/serial';

export interface StoredRecord {
  seq: number;
  key: string;
  headers: Record<string, string>;
  value: Buffer;
}

/** A write as a group reads it: a value, or a tombstone (null). */
export type LoggedRecord = Omit<StoredRecord, 'value'> & { value: Buffer | null };

/**
 * On-disk format: 1 = mistbridge 0.1 (record lines only; the next sequence number was derived from
 * the records, so tombstones dropped at a rewrite let it fall back); 2 starts the log with
 * `{"format":2,"next":N}` and the offsets file with `{"format":2,"groups":{...}}`.
 */
export const STORE_FORMAT = 2;

/** Rewrite once the log holds this many more lines than live keys (and at least this many dead lines). */
const COMPACT_MIN_DEAD_LINES = 1000;
/**
 * Superseded records kept for groups that have not committed them, at most (the oldest go first):
 * a group further behind than this may miss intermediate versions, as a Kafka consumer behind
 * compaction does. Superseded quiet records (counter-only incident versions) are never kept: no
 * reader needs one once a later record of its key exists, and a device flapping while Splunk is
 * down writes thousands.
 */
export const MAX_PENDING_RECORDS = 10_000;

/**
 * The embedded stand-in for a compacted Kafka topic (mist.incidents): an fsynced JSON-lines log of
 * writes, compacted to the latest value per key at start and whenever dead lines outnumber live
 * ones, plus the committed position of each consumer group so that a restart delivers what a group
 * had not finished. Compaction keeps a superseded record until every group that committed here has
 * committed it (`pending`, bounded): a notify group that had not yet told an incident's resolution
 * when a new incident took its key still reads it after a crash. Sequence numbers never go back:
 * the next one is persisted with every rewrite.
 */
export class CompactedStore {
  readonly #log: string;
  readonly #offsets: string;
  #nextSeq = 0;
  #committed: Record<string, number> = {};
  /** The latest record of every live key, in write order (what the next rewrite writes). */
  readonly #latest = new Map<string, StoredRecord>();
  /** Superseded records and tombstones some group has not committed, oldest first (see MAX_PENDING_RECORDS). */
  #pending: LoggedRecord[] = [];
  #lines = 0;
  /** Appends and rewrites, one at a time. */
  readonly #queue = new SerialQueue();
  #dead = false;

  constructor(dir: string, topic: string) {
    this.#log = join(dir, `${topic}.log`);
    this.#offsets = join(dir, `${topic}.offsets.json`);
  }

  /** Live records (tombstoned keys removed), oldest write first; rewrites the log with those and the pending ones. */
  load(): StoredRecord[] {
    mkdirSync(dirname(this.#log), { recursive: true });
    this.#committed = readOffsets(this.#offsets);
    const floor = this.#floor();
    const kept: LoggedRecord[] = [];
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
      const record = { seq: parsed.s, key: parsed.k, headers: parsed.h, value: parsed.v === null ? null : Buffer.from(parsed.v, 'base64') };
      latest.set(parsed.k, record.value === null ? null : (record as StoredRecord));
      if (record.seq >= floor && !isQuiet(record.headers)) kept.push(record);
    }
    for (const record of latest.values()) if (record) this.#latest.set(record.key, record);
    this.#pending = kept
      .filter((r) => this.#latest.get(r.key) !== r)
      .sort((a, b) => a.seq - b.seq)
      .slice(-MAX_PENDING_RECORDS);
    const tmp = `${this.#log}.tmp`;
    writeFileSync(tmp, this.#content());
    syncPathSync(tmp);
    renameSync(tmp, this.#log);
    this.#lines = this.#latest.size + this.#pending.length;
    return this.live();
  }

  /** The latest record of every live key, oldest write first. */
  live(): StoredRecord[] {
    return [...this.#latest.values()];
  }

  /** What a group that committed up to `from` has still to read: the live records and the pending ones (tombstones too), by sequence number. */
  since(from: number): LoggedRecord[] {
    return [...this.#pending, ...this.#latest.values()].filter((r) => r.seq >= from).sort((a, b) => a.seq - b.seq);
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
      const floor = this.#floor();
      const keep = (record: LoggedRecord): void => {
        if (record.seq >= floor && this.#pending.push(record) > MAX_PENDING_RECORDS) this.#pending.shift();
      };
      records.forEach((r, i) => {
        const superseded = this.#latest.get(r.key);
        if (superseded && !isQuiet(superseded.headers)) keep(superseded);
        this.#latest.delete(r.key); // a rewritten key moves to the end
        const record = { seq: seqs[i]!, key: r.key, headers: r.headers, value: r.value };
        // A tombstone is kept like a superseded record: a group that lags learns the key is gone.
        if (r.value === null) keep(record);
        else this.#latest.set(r.key, record as StoredRecord);
      });
      if (this.#lines - this.#latest.size - this.#pending.length >= Math.max(COMPACT_MIN_DEAD_LINES, this.#latest.size)) await this.#rewrite();
      return seqs;
    });
  }

  async #rewrite(): Promise<void> {
    const tmp = `${this.#log}.tmp`;
    await writeFile(tmp, this.#content());
    await syncPath(tmp);
    await rename(tmp, this.#log);
    this.#lines = this.#latest.size + this.#pending.length;
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
    const before = this.#floor();
    this.#committed[group] = seq;
    const floor = this.#floor();
    if (floor > before && this.#pending.length > 0) this.#pending = this.#pending.filter((r) => r.seq >= floor);
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

  /** The first sequence number some group that committed here has not: superseded records from it on are kept. */
  #floor(): number {
    const committed = Object.values(this.#committed);
    return committed.length === 0 ? Infinity : Math.min(...committed);
  }

  /** A key's pending records come before its latest one: a reader takes the last line of a key as its value. */
  #content(): string {
    return `${JSON.stringify({ format: STORE_FORMAT, next: this.#nextSeq })}\n${this.#pending.map(line).join('')}${this.live().map(line).join('')}`;
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
