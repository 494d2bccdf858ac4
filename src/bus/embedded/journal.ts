import { closeSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, statSync, truncateSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { fdatasync, ftruncate, writev } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { crc32 } from 'node:zlib';
import { syncPathSync } from '../../shared/fsync';

const writevAsync = promisify(writev);
const fdatasyncAsync = promisify(fdatasync);
const ftruncateAsync = promisify(ftruncate);

export interface JournalRecord {
  offset: number;
  key: string;
  headers: Record<string, string>;
  value: Buffer;
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
  /** Consecutive runs that died with the normalizer at `normalized` (0 after a clean stop). */
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
  /** The normalizer waited for the backlog to drain during the run: a death then says nothing about the webhook in hand. */
  blocked?: boolean;
  start?: { at: number; deaths: number };
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
  #pending: Array<{ buffers: Buffer[]; count: number; resolve: (offsets: number[]) => void; reject: (err: Error) => void }> = [];
  #flushing: Promise<void> | null = null;
  #lastError: { error: Error; at: number } | null = null;
  /** Abandoned (an in-process crash): nothing more is written. */
  #dead = false;
  /** checkpoint.json, open for rewriting in place (after the one atomic write per start). */
  #checkpointFd = -1;
  /** Segment start offsets, ascending (kept here: listing the directory at every checkpoint cost the ingress a few per cent). */
  #segmentStarts: number[] = [];

  constructor(private readonly dir: string) {}

  /** Opens the journal: the records not yet checkpointed (to be replayed) and what the last run left. */
  open(): JournalStart {
    mkdirSync(this.dir, { recursive: true });
    const previous = this.#readCheckpoint();
    this.#checkpoint = previous.offset ?? 0;
    const segments = this.#segments();
    this.#segmentStarts = [...segments];
    const records: JournalRecord[] = [];
    let next = this.#checkpoint;
    let lastEnd = -1;
    for (const start of segments) {
      const path = this.#segmentPath(start);
      const decoded = decodeSegment(readFileSync(path), start);
      if (decoded.validBytes < decoded.totalBytes) {
        // A torn tail is a write that never reached fsync, so it was never acknowledged.
        truncateSync(path, decoded.validBytes);
        syncPathSync(path);
      }
      for (const record of decoded.records) if (record.offset >= this.#checkpoint) records.push(record);
      lastEnd = start + decoded.records.length;
      next = Math.max(next, lastEnd);
    }
    this.#nextOffset = next;
    const last = segments[segments.length - 1];
    // Keep appending to the last segment only while its record count still maps onto the offsets.
    const reuse = last !== undefined && lastEnd === next && statSync(this.#segmentPath(last)).size < SEGMENT_BYTES;
    this.#openSegment(reuse ? last : next);

    // A 0.1 checkpoint has no `clean` flag: its run is taken as clean (nothing to hold against it).
    const normalized = Math.max(this.#checkpoint, previous.normalized ?? this.#checkpoint);
    // A run that ended without a clean close while the normalizer had work, and not while it was held
    // back by a stalled sink (back-pressure), died of what it was normalizing.
    const died = previous.clean === false && previous.blocked !== true && normalized < next;
    const deaths = died ? (previous.start?.at === normalized ? previous.start.deaths + 1 : 1) : 0;
    const quarantine = deaths >= 2 ? (records.find((r) => r.offset === normalized) ?? null) : null;
    this.#normalized = quarantine ? normalized + 1 : normalized;
    this.#start = { at: this.#normalized, deaths: quarantine ? 0 : deaths };
    this.#writeCheckpoint(false); // the one write per start that counts deaths (atomic: a new file renamed over the old)
    this.#openCheckpoint();
    return {
      replay: quarantine ? records.filter((r) => r !== quarantine) : records,
      quarantine,
      deaths: this.#start.deaths,
      carefulFrom: this.#normalized,
      carefulUntil: deaths >= 1 && !quarantine ? next : this.#normalized,
    };
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

  /** Resolves with the records' offsets once they are on disk. */
  append(records: Array<{ key: string; headers: Record<string, string>; value: Buffer }>): Promise<number[]> {
    if (this.#dead) return Promise.reject(new Error('journal abandoned'));
    const buffers = records.flatMap(encodeRecord);
    const durable = new Promise<number[]>((resolve, reject) => this.#pending.push({ buffers, count: records.length, resolve, reject }));
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
        let written = 0;
        while (written < bytes) {
          written += (await writevAsync(this.#fd, written === 0 ? buffers : sliceBuffers(buffers, written))).bytesWritten;
        }
        await fdatasyncAsync(this.#fd);
        this.#segmentBytes += bytes;
        this.#lastError = null;
        // Offsets are given only to records on disk, so recovery numbers them exactly the same way.
        for (const entry of batch) {
          const offsets = Array.from({ length: entry.count }, (_, i) => this.#nextOffset + i);
          this.#nextOffset += entry.count;
          entry.resolve(offsets);
        }
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
      if (this.#checkpoint >= this.#nextOffset && !this.#flushing && this.#segmentBytes >= ROLL_WHEN_DONE_BYTES) this.#roll();
      const segments = this.#segmentStarts;
      while (segments.length > 1 && segments[1]! <= this.#checkpoint && segments[0] !== this.#segmentStart) {
        unlinkSync(this.#segmentPath(segments[0]!));
        segments.shift();
      }
    } catch {
      // Deleting is an optimisation: a segment left behind is deleted at the next checkpoint.
    }
  }

  async close(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
    if (!this.#dead) this.#writeCheckpoint(true);
    this.#closeCheckpoint();
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

  /** The normalizer is held back by the backlog bound: written once per run (see `open`). */
  noteBackPressure(): void {
    if (this.#blocked || this.#dead) return;
    this.#blocked = true;
    this.#writeCheckpoint(false);
  }

  /** An in-process crash (tests): stop writing at once, let the write in flight settle, keep the files as they are. */
  async abandon(): Promise<void> {
    this.#dead = true;
    while (this.#flushing) await this.#flushing;
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
    this.#closeCheckpoint();
  }

  /**
   * At start-up a new file renamed over the old one; then, many times a second under load, one
   * write in place of a fixed-size record (a rename each time was a fifth of the ingress's CPU).
   * A write of a few hundred bytes at offset 0 is never torn by the process dying; a machine
   * crash may lose it, which only means more replay (the file is not fsynced either way).
   */
  #writeCheckpoint(clean: boolean): void {
    const content: CheckpointFile = { format: JOURNAL_FORMAT, offset: this.#checkpoint, normalized: this.#normalized, clean, blocked: this.#blocked, start: this.#start };
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
    return join(this.dir, `raw-${String(start).padStart(16, '0')}.log`);
  }

  #segments(): number[] {
    return readdirSync(this.dir)
      .map((name) => /^raw-(\d{16})\.log$/.exec(name)?.[1])
      .filter((s): s is string => s !== undefined)
      .map(Number)
      .sort((a, b) => a - b);
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

export function decodeSegment(data: Buffer, start: number): { records: JournalRecord[]; validBytes: number; totalBytes: number } {
  const records: JournalRecord[] = [];
  let pos = 0;
  while (pos + HEADER_BYTES <= data.length) {
    const length = data.readUInt32BE(pos);
    const crc = data.readUInt32BE(pos + 4);
    const end = pos + HEADER_BYTES + length;
    if (length < 2 || end > data.length) break;
    const payload = data.subarray(pos + HEADER_BYTES, end);
    if (crc32(payload) !== crc) break;
    const metaLength = payload.readUInt16BE(0);
    if (2 + metaLength > payload.length) break;
    let meta: { k: string; h: Record<string, string> };
    try {
      meta = JSON.parse(payload.subarray(2, 2 + metaLength).toString('utf8')) as typeof meta;
    } catch {
      break;
    }
    records.push({ offset: start + records.length, key: meta.k, headers: meta.h, value: Buffer.from(payload.subarray(2 + metaLength)) });
    pos = end;
  }
  return { records, validBytes: pos, totalBytes: data.length };
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
