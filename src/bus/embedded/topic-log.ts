export interface Entry {
  key: string;
  /** null: a tombstone, unless `load` reads the value from disk. */
  value: Buffer | null;
  load?: () => Buffer;
  headers: Record<string, string>;
  /** Offset of the raw webhook this message derives from: the journal keeps it until every derivative is committed. */
  root: number;
  bytes: number;
  /** Raw entries: their journal offset, which is what messages and dead letters name. */
  offset?: number;
  /** Sequence number in the compacted store, for topics kept on disk. */
  seq?: number;
  /** When the entry joined the log: a batch lingers from its oldest message, not from when the consumer looked. */
  appendedAt?: number;
  /** Superseded while still in the log (a quiet record followed by another of its key): skipped by readers, its value gone. */
  dropped?: boolean;
}

/** What a group of the embedded bus is to a log: where it has committed. */
export interface LogReader {
  committedOf(topic: string): number;
}

/**
 * What an entry holds besides its value (the entry, its headers and key, the Buffer and ArrayBuffer
 * objects, the event id the dedupe window keeps): a heap snapshot of a process holding 52,000
 * entries (Splunk down, dense webhooks, every role) showed about 640 bytes of heap each beside the
 * values' bytes. 384 let a 128 MiB process exceed its heap cap within its backlog bound.
 */
const ENTRY_OVERHEAD_BYTES = 640;

/** One topic of the embedded bus: a window of entries from `base`, trimmed once every group committed them. */
export class TopicLog<Reader extends LogReader = LogReader> {
  constructor(readonly name: string) {}

  /** Offset of entries[0]. */
  base = 0;
  entries: Entry[] = [];
  /** Memory held by the entries: their values plus ENTRY_OVERHEAD_BYTES each. */
  bytes = 0;
  readonly groups = new Map<string, Reader>();
  readonly waiters = new Set<() => void>();

  get end(): number {
    return this.base + this.entries.length;
  }

  /** Set when an entry's root is older than its predecessor's (output produced outside a batch). */
  unordered = false;

  append(entry: Entry): number {
    entry.appendedAt = performance.now();
    const last = this.entries[this.entries.length - 1];
    if (last && entry.root < last.root) this.unordered = true;
    this.entries.push(entry);
    this.bytes += entry.bytes + ENTRY_OVERHEAD_BYTES;
    for (const wake of this.waiters) wake();
    this.waiters.clear();
    return this.end - 1;
  }

  /** Frees a superseded entry's value (its place, and its offset, stay). */
  drop(entry: Entry): void {
    if (entry.dropped) return;
    entry.dropped = true;
    this.bytes -= entry.bytes;
    entry.bytes = 0;
    entry.value = null;
  }

  at(offset: number): Entry | undefined {
    return this.entries[offset - this.base];
  }

  /** Drops what every group has committed. */
  trim(): void {
    let low = this.end;
    for (const reader of this.groups.values()) low = Math.min(low, reader.committedOf(this.name));
    const drop = low - this.base;
    if (drop > 0 && (drop >= 1024 || drop === this.entries.length)) {
      for (const dropped of this.entries.splice(0, drop)) this.bytes -= dropped.bytes + ENTRY_OVERHEAD_BYTES;
      this.base = low;
      if (this.entries.length === 0) this.unordered = false;
    }
  }

  /** The oldest root among entries from `offset` on. */
  oldestRoot(offset: number): number | undefined {
    if (!this.unordered) return this.at(offset)?.root;
    let low: number | undefined;
    for (let i = offset - this.base; i < this.entries.length; i++) low = Math.min(low ?? Infinity, this.entries[i]!.root);
    return low;
  }
}
