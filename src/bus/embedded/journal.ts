import { closeSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, readdirSync, renameSync, statSync, truncateSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { fdatasync, ftruncate, writev } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { crc32 } from 'node:zlib';
import { syncPathSync } from '../../shared/fsync';

const writevAsync = promisify(writev);
const fdatasyncAsync = promisify(fdatasync);
const ftruncateAsync = promisify(ftruncate);

/** Where a record's value lies: read back when a consumer takes it, never held in memory meanwhile. */
export interface RecordLocation {
  segment: number;
  /** File position of the value. */
  position: number;
  length: number;
}

export interface JournalRecord {
  offset: number;
  key: string;
  headers: Record<string, string>;
  location: RecordLocation;
}

/**
 * On-disk format of `DATA_DIR/raw/` (segments and checkpoint.json). 1 = mistbridge 0.1 (a bare
 * `{"offset"}` checkpoint); 2 adds the normalizer's position and the start record below. The
 * segment record layout is the same in both.
 */
export const JOURNAL_FORMAT = 2;

/** Segments roll at this size, so that space is given back soon after it was processed. */
const SEGMENT_BYTES = 8 * 1024 * 1024;
/** A segment this large rolls as soon as everything in it was processed (a small disk must not stay full). */
const ROLL_WHEN_DONE_BYTES = 256 * 1024;
const ERROR_HOLD_MS = 1000;
const HEADER_BYTES = 8; // u32 payload length, u32 crc32 of the payload
/** checkpoint.json is rewritten in place at this size (padded with spaces, which JSON ignores). */
const CHECKPOINT_BYTES = 256;

/**
 * What `open` learnt from the last run. A run that ended without closing the journal (a crash, an
 * OOM kill) while the normalizer was at the same entry as the run before it died there twice: that
 * entry is quarantined (`quarantine`), so one body can never keep the service down. After any such
 * death the entries that were in the journal are normalized one at a time (`carefulFrom` up to
 * `carefulUntil`), so the next death names the poison exactly.
 */
export interface JournalStart {
  replay: JournalRecord[];
  quarantine: JournalRecord | null;
  /** Consecutive runs that died normalizing the webhook at `carefulFrom` alone (0 after a clean stop). */
  deaths: number;
  carefulFrom: number;
  carefulUntil: number;
}

interface CheckpointFile {
  format?: number;
  offset?: number;
  normalized?: number;
  /** False from start-up until a clean close. */
  clean?: boolean;
  /** 0.2: the normalizer waited for the backlog during the run (still written, for a rollback). */
  blocked?: boolean;
  start?: { at: number; deaths: number };
  /** 0.3: the webhooks (journal offsets) the normalizer is working on now, or null. */
  attempt?: { from: number; until: number } | null;
  /** 0.3: the normalizer is waiting for memory (back-pressure), not working: a death now is not the webhook's. */
  parked?: boolean;
}

/**
 * Append-only, fsynced log of raw webhooks: what makes an embedded-mode 200 a promise.
 * Appends that arrive while a flush is running are written and fsynced together (group commit).
 * A checkpoint records the offset below which every record was fully processed; segments wholly
 * below it are deleted. Record: u32 length | u32 crc32 | u16 meta length | meta JSON | value.
 */
export class Journal {
  #fd = -1;
  #segmentStart = 0;
  #segmentBytes = 0;
  #nextOffset = 0;
  #checkpoint = 0;
  #normalized = 0;
  #start: { at: number; deaths: number } = { at: 0, deaths: 0 };
  #blocked = false;
  #attempt: { from: number; until: number } | null = null;
  #parked = false;
  /** Read descriptors of segments, opened on first read. */
  readonly #readers = new Map<number, number>();
  #pending: Array<{ buffers: Buffer[]; sizes: Array<{ before: number; length: number }>; resolve: (written: Array<{ offset: number; location: RecordLocation }>) => void; reject: (err: Error) => void }> = [];
  #flushing: Promise<void> | null = null;
  #lastError: { error: Error; at: number } | null = null;
  /** Abandoned (an in-process crash): nothing more is written. */
  #dead = false;
  /** checkpoint.json, open for rewriting in place (after the one atomic write per start). */
  #checkpointFd = -1;
  /** Segment start offsets, ascending (kept here: listing the directory at every checkpoint cost the ingress a few per cent). */
  #segmentStarts: number[] = [];

  /** Archived segments' sizes and times (stat once, when a segment becomes archived). */
  readonly #archived = new Map<number, { bytes: number; at: number }>();

  constructor(
    private readonly dir: string,
    /**
     * Normalized segments kept for `mistbridge redeliver` (RAW_RETENTION_S within RAW_RETENTION_BYTES),
     * oldest dropped first; 0: deleted once normalized, as before. Never read at start, never
     * counted as backlog, and dropped before a full disk refuses a webhook.
     */
    private readonly archive: { maxAgeMs: number; maxBytes: number } = { maxAgeMs: 0, maxBytes: 0 },
  ) {}

  /**
   * Opens the journal: the records not yet checkpointed (to be replayed; their values stay on disk
   * and are read when consumed) and what the last run left. Segments are scanned a window at a
   * time, never read whole.
   */
  open(): JournalStart {
    mkdirSync(this.dir, { recursive: true });
    const previous = this.#readCheckpoint();
    this.#checkpoint = previous.offset ?? 0;
    const segments = this.#segments();
    this.#segmentStarts = [...segments];
    const records: JournalRecord[] = [];
    let next = this.#checkpoint;
    let lastEnd = -1;
    for (const [i, start] of segments.entries()) {
      // An archived segment (wholly below the checkpoint) holds nothing to replay: never read at start.
      if (i + 1 < segments.length && segments[i + 1]! <= this.#checkpoint) continue;
      const path = this.#segmentPath(start);
      const scanned = scanSegment(path, start, (record) => {
        if (record.offset >= this.#checkpoint) records.push(record);
      });
      // A torn tail is a write that never reached fsync, so it was never acknowledged.
      if (scanned.validBytes < scanned.totalBytes) {
        truncateSync(path, scanned.validBytes);
        syncPathSync(path);
      }
      lastEnd = start + scanned.count;
      next = Math.max(next, lastEnd);
    }
    this.#nextOffset = next;
    const last = segments[segments.length - 1];
    // Keep appending to the last segment only while its record count still maps onto the offsets.
    const reuse = last !== undefined && lastEnd === next && statSync(this.#segmentPath(last)).size < SEGMENT_BYTES;
    this.#openSegment(reuse ? last : next);

    // A 0.1 checkpoint has no `clean` flag: its run is taken as clean (nothing to hold against it).
    const normalized = Math.max(this.#checkpoint, previous.normalized ?? this.#checkpoint);
    const attempt = previous.attempt !== undefined ? previous.attempt : legacyAttempt(previous, normalized, next);
    // A run that ended without a clean close while the normalizer was working on webhooks (not
    // waiting for memory) died of what it was normalizing: of that webhook when it was the only
    // one; of one of them otherwise, which are then normalized one at a time to find it.
    const died = previous.clean === false && attempt !== null && previous.parked !== true && attempt.until > normalized;
    const from = attempt ? Math.max(attempt.from, normalized) : normalized;
    const single = died && attempt!.until - from === 1;
    const deaths = single ? (previous.start?.at === from ? previous.start.deaths + 1 : 1) : 0;
    const quarantine = deaths >= 2 ? (records.find((r) => r.offset === from) ?? null) : null;
    this.#normalized = quarantine ? Math.max(normalized, from + 1) : normalized;
    this.#start = { at: from, deaths: quarantine ? 0 : deaths };
    this.#writeCheckpoint(false); // the one write per start that counts deaths (atomic: a new file renamed over the old)
    this.#openCheckpoint();
    return {
      replay: quarantine ? records.filter((r) => r !== quarantine) : records,
      quarantine,
      deaths: this.#start.deaths,
      carefulFrom: died && !quarantine ? from : this.#normalized,
      carefulUntil: died && !quarantine ? Math.max(from + 1, attempt!.until) : this.#normalized,
    };
  }

  /** A record's value, from its segment (page cache, mostly). */
  read(location: RecordLocation): Buffer {
    let fd = this.#readers.get(location.segment);
    if (fd === undefined) {
      fd = openSync(this.#segmentPath(location.segment), 'r');
      this.#readers.set(location.segment, fd);
    }
    const value = Buffer.allocUnsafe(location.length);
    for (let done = 0; done < location.length; ) {
      const n = readSync(fd, value, done, location.length - done, location.position + done);
      if (n === 0) throw new Error(`journal segment ${location.segment} ends before the record at ${location.position}`);
      done += n;
    }
    return value;
  }

  /**
   * The normalizer starts on the webhooks [from, until) (null: it finished them): written before
   * the work, so that a death during it is theirs. Not fsynced: a process that dies leaves the
   * write in the page cache; a machine that crashes was not killed by a webhook.
   */
  attempt(range: { from: number; until: number } | null): void {
    if (this.#dead) return;
    this.#attempt = range;
    this.#writeCheckpoint(false);
  }

  /** The normalizer waits for memory (true) or works again (false). */
  park(parked: boolean): void {
    if (this.#dead || this.#parked === parked) return;
    this.#parked = parked;
    if (parked) this.#blocked = true;
    this.#writeCheckpoint(false);
  }

  get nextOffset(): number {
    return this.#nextOffset;
  }

  get checkpointOffset(): number {
    return this.#checkpoint;
  }

  /**
   * The last write or fsync error if it is recent: a full or read-only disk refuses writes, but
   * after a second the next write is tried again, so freeing space brings the ingress back.
   */
  get lastError(): Error | null {
    return this.#lastError && Date.now() - this.#lastError.at < ERROR_HOLD_MS ? this.#lastError.error : null;
  }

  /** Resolves with the records' offsets and locations once they are on disk. */
  append(records: Array<{ key: string; headers: Record<string, string>; value: Buffer }>): Promise<Array<{ offset: number; location: RecordLocation }>> {
    if (this.#dead) return Promise.reject(new Error('journal abandoned'));
    const buffers: Buffer[] = [];
    const sizes: Array<{ before: number; length: number }> = [];
    for (const record of records) {
      const encoded = encodeRecord(record);
      // Bytes of the record before its value (header, meta length, meta), and the value's.
      sizes.push({ before: encoded[0]!.length + encoded[1]!.length + encoded[2]!.length, length: record.value.length });
      buffers.push(...encoded);
    }
    const durable = new Promise<Array<{ offset: number; location: RecordLocation }>>((resolve, reject) => this.#pending.push({ buffers, sizes, resolve, reject }));
    if (!this.#flushing) this.#flushing = this.#flushLoop();
    return durable;
  }

  async #flushLoop(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending;
      this.#pending = [];
      if (this.#dead) {
        for (const entry of batch) entry.reject(new Error('journal abandoned'));
        continue;
      }
      const buffers = batch.flatMap((entry) => entry.buffers);
      const bytes = buffers.reduce((sum, b) => sum + b.length, 0);
      const before = this.#segmentBytes;
      try {
        const write = async (): Promise<void> => {
          let written = 0;
          while (written < bytes) {
            written += (await writevAsync(this.#fd, written === 0 ? buffers : sliceBuffers(buffers, written))).bytesWritten;
          }
          await fdatasyncAsync(this.#fd);
        };
        try {
          await write();
        } catch (err) {
          // A full disk gives up the archive before it refuses a webhook.
          if ((err as NodeJS.ErrnoException).code !== 'ENOSPC' || this.#trimArchive(true) === 0) throw err;
          await ftruncateAsync(this.#fd, before);
          await write();
        }
        this.#lastError = null;
        // Offsets are given only to records on disk, so recovery numbers them exactly the same way.
        let position = before;
        for (const entry of batch) {
          entry.resolve(
            entry.sizes.map((size) => {
              const written = { offset: this.#nextOffset++, location: { segment: this.#segmentStart, position: position + size.before, length: size.length } };
              position += size.before + size.length;
              return written;
            }),
          );
        }
        this.#segmentBytes += bytes;
      } catch (err) {
        this.#lastError = { error: err as Error, at: Date.now() };
        // Undo a partial write so later records do not land behind garbage.
        await ftruncateAsync(this.#fd, before).catch(() => undefined);
        for (const entry of batch) entry.reject(err as Error);
      }
      if (this.#segmentBytes >= SEGMENT_BYTES) this.#roll();
    }
    this.#flushing = null;
  }

  /**
   * Everything below `offset` was processed and the normalizer has committed everything below
   * `normalized`; older segments can go. Losing this write only means more replay.
   */
  checkpoint(offset: number, normalized: number = this.#normalized): void {
    if (this.#dead) return;
    const advanced = offset > this.#checkpoint;
    if (!advanced && normalized <= this.#normalized) return;
    this.#checkpoint = Math.max(this.#checkpoint, offset);
    this.#normalized = Math.max(this.#normalized, normalized, this.#checkpoint);
    this.#writeCheckpoint(false);
    if (!advanced) return;
    try {
      // (Early rolls give space back on a small disk; an archive keeps segments anyway.)
      if (!this.#archiving && this.#checkpoint >= this.#nextOffset && !this.#flushing && this.#segmentBytes >= ROLL_WHEN_DONE_BYTES) this.#roll();
      this.#trimArchive(false);
    } catch {
      // Deleting is an optimisation: a segment left behind is deleted at the next checkpoint.
    }
  }

  get #archiving(): boolean {
    return this.archive.maxAgeMs > 0 && this.archive.maxBytes > 0;
  }

  /**
   * Drops archived segments (wholly below the checkpoint, never the open one): all of them
   * without an archive or when `all` (a full disk), else the oldest beyond the policy's age or
   * bytes. Returns how many went.
   */
  #trimArchive(all: boolean, now = Date.now()): number {
    const segments = this.#segmentStarts;
    let count = 0;
    while (count + 1 < segments.length && segments[count + 1]! <= this.#checkpoint && segments[count] !== this.#segmentStart) count++;
    const stats = segments.slice(0, count).map((start) => {
      let stat = this.#archived.get(start);
      if (!stat) {
        const s = statSync(this.#segmentPath(start));
        stat = { bytes: s.size, at: s.mtimeMs };
        this.#archived.set(start, stat);
      }
      return stat;
    });
    let total = stats.reduce((n, s) => n + s.bytes, 0);
    let dropped = 0;
    while (dropped < count && (all || !this.#archiving || total > this.archive.maxBytes || stats[dropped]!.at < now - this.archive.maxAgeMs)) {
      const start = segments[0]!;
      unlinkSync(this.#segmentPath(start));
      this.#closeReader(start);
      this.#archived.delete(start);
      segments.shift();
      total -= stats[dropped]!.bytes;
      dropped++;
    }
    return dropped;
  }

  /** The archive's and the journal's segments, oldest first (`mistbridge redeliver` reads them). */
  static segmentFiles(dir: string): Array<{ start: number; path: string }> {
    return segmentStarts(dir).map((start) => ({ start, path: segmentPath(dir, start) }));
  }

  async close(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
    if (!this.#dead) this.#writeCheckpoint(true);
    this.#closeCheckpoint();
    for (const segment of [...this.#readers.keys()]) this.#closeReader(segment);
  }

  #closeReader(segment: number): void {
    const fd = this.#readers.get(segment);
    if (fd !== undefined) closeSync(fd);
    this.#readers.delete(segment);
  }

  #openCheckpoint(): void {
    this.#closeCheckpoint();
    try {
      this.#checkpointFd = openSync(join(this.dir, 'checkpoint.json'), 'r+');
    } catch {
      // No file (its write failed): every checkpoint then goes the atomic way.
    }
  }

  #closeCheckpoint(): void {
    if (this.#checkpointFd >= 0) closeSync(this.#checkpointFd);
    this.#checkpointFd = -1;
  }

  /** An in-process crash (tests): stop writing at once, let the write in flight settle, keep the files as they are. */
  async abandon(): Promise<void> {
    this.#dead = true;
    while (this.#flushing) await this.#flushing;
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
    this.#closeCheckpoint();
    for (const segment of [...this.#readers.keys()]) this.#closeReader(segment);
  }

  /**
   * At start-up a new file renamed over the old one; then, many times a second under load, one
   * write in place of a fixed-size record (a rename each time was a fifth of the ingress's CPU).
   * A write of a few hundred bytes at offset 0 is never torn by the process dying; a machine
   * crash may lose it, which only means more replay (the file is not fsynced either way).
   */
  #writeCheckpoint(clean: boolean): void {
    const content: CheckpointFile = { format: JOURNAL_FORMAT, offset: this.#checkpoint, normalized: this.#normalized, clean, blocked: this.#blocked, start: this.#start, attempt: this.#attempt, parked: this.#parked };
    const text = JSON.stringify(content).padEnd(CHECKPOINT_BYTES);
    try {
      if (this.#checkpointFd >= 0 && text.length === CHECKPOINT_BYTES) {
        writeSync(this.#checkpointFd, text, 0, 'utf8');
        return;
      }
      const tmp = join(this.dir, 'checkpoint.json.tmp');
      writeFileSync(tmp, text);
      renameSync(tmp, join(this.dir, 'checkpoint.json'));
      // Never reached with today's fields (under 200 bytes): the open file is the replaced one.
      if (this.#checkpointFd >= 0) this.#openCheckpoint();
    } catch {
      // The checkpoint is an optimisation; a stale one replays already-processed webhooks (same event_ids).
    }
  }

  #roll(): void {
    closeSync(this.#fd);
    this.#openSegment(this.#nextOffset);
  }

  #openSegment(start: number): void {
    this.#segmentStart = start;
    if (this.#segmentStarts[this.#segmentStarts.length - 1] !== start) this.#segmentStarts.push(start);
    const path = this.#segmentPath(start);
    this.#fd = openSync(path, 'a');
    this.#segmentBytes = statSync(path).size;
    syncPathSync(this.dir); // the new file's directory entry must survive a crash too
  }

  #segmentPath(start: number): string {
    return segmentPath(this.dir, start);
  }

  #segments(): number[] {
    return segmentStarts(this.dir);
  }

  #readCheckpoint(): CheckpointFile {
    let parsed: CheckpointFile;
    try {
      parsed = JSON.parse(readFileSync(join(this.dir, 'checkpoint.json'), 'utf8')) as CheckpointFile;
    } catch {
      return {};
    }
    if ((parsed.format ?? 1) > JOURNAL_FORMAT) throw new Error(`${join(this.dir, 'checkpoint.json')} was written by a newer mistbridge (format ${parsed.format})`);
    const offset = typeof parsed.offset === 'number' && parsed.offset >= 0 ? parsed.offset : 0;
    return { ...parsed, offset };
  }
}

function encodeRecord(record: { key: string; headers: Record<string, string>; value: Buffer }): Buffer[] {
  const meta = Buffer.from(JSON.stringify({ k: record.key, h: record.headers }));
  const metaLength = Buffer.alloc(2);
  metaLength.writeUInt16BE(meta.length);
  const payloadLength = 2 + meta.length + record.value.length;
  let crc = crc32(metaLength);
  crc = crc32(meta, crc);
  crc = crc32(record.value, crc);
  const header = Buffer.alloc(HEADER_BYTES);
  header.writeUInt32BE(payloadLength, 0);
  header.writeUInt32BE(crc, 4);
  return [header, metaLength, meta, record.value];
}

const SCAN_WINDOW_BYTES = 1024 * 1024;

/**
 * The valid records of a segment, a window at a time (a value is checked, never kept: its CRC is
 * computed as it passes). Stops at the first record that is torn or does not check out.
 */
function segmentPath(dir: string, start: number): string {
  return join(dir, `raw-${String(start).padStart(16, '0')}.log`);
}

function segmentStarts(dir: string): number[] {
  return readdirSync(dir)
    .map((name) => /^raw-(\d{16})\.log$/.exec(name)?.[1])
    .filter((s): s is string => s !== undefined)
    .map(Number)
    .sort((a, b) => a - b);
}

export function scanSegment(path: string, start: number, each: (record: JournalRecord) => void): { count: number; validBytes: number; totalBytes: number } {
  const fd = openSync(path, 'r');
  try {
    const total = fstatSync(fd).size;
    const window = Buffer.allocUnsafe(SCAN_WINDOW_BYTES);
    const readAt = (position: number, length: number): Buffer => {
      const out = length <= window.length ? window.subarray(0, length) : Buffer.allocUnsafe(length);
      let done = 0;
      while (done < length) {
        const n = readSync(fd, out, done, length - done, position + done);
        if (n === 0) break;
        done += n;
      }
      return out.subarray(0, done);
    };
    let pos = 0;
    let count = 0;
    while (pos + HEADER_BYTES <= total) {
      const header = readAt(pos, HEADER_BYTES);
      const length = header.readUInt32BE(0);
      const crc = header.readUInt32BE(4);
      const end = pos + HEADER_BYTES + length;
      if (length < 2 || end > total) break;
      const metaLength = readAt(pos + HEADER_BYTES, 2).readUInt16BE(0);
      if (2 + metaLength > length) break;
      const metaBytes = Buffer.from(readAt(pos + HEADER_BYTES + 2, metaLength));
      let check = crc32(readAt(pos + HEADER_BYTES, 2));
      check = crc32(metaBytes, check);
      const valueStart = pos + HEADER_BYTES + 2 + metaLength;
      for (let at = valueStart; at < end; at += window.length) check = crc32(readAt(at, Math.min(window.length, end - at)), check);
      if (check !== crc) break;
      let meta: { k: string; h: Record<string, string> };
      try {
        meta = JSON.parse(metaBytes.toString('utf8')) as typeof meta;
      } catch {
        break;
      }
      each({ offset: start + count, key: meta.k, headers: meta.h, location: { segment: start, position: valueStart, length: end - valueStart } });
      count++;
      pos = end;
    }
    return { count, validBytes: pos, totalBytes: total };
  } finally {
    closeSync(fd);
  }
}

/**
 * A 0.2 checkpoint has no attempt: the normalizer was taken to be at `normalized` with everything
 * after it in hand, unless the run was held back by back-pressure (`blocked`).
 */
function legacyAttempt(previous: CheckpointFile, normalized: number, next: number): { from: number; until: number } | null {
  if (previous.blocked === true || normalized >= next) return null;
  return { from: normalized, until: next };
}

function sliceBuffers(buffers: Buffer[], skip: number): Buffer[] {
  const out: Buffer[] = [];
  for (const buffer of buffers) {
    if (skip >= buffer.length) skip -= buffer.length;
    else {
      out.push(skip > 0 ? buffer.subarray(skip) : buffer);
      skip = 0;
    }
  }
  return out;
}
