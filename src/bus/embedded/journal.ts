import { closeSync, fsyncSync, mkdirSync, openSync, readFileSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { fdatasync, ftruncate, ftruncateSync, writev } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { crc32 } from 'node:zlib';

const writevAsync = promisify(writev);
const fdatasyncAsync = promisify(fdatasync);
const ftruncateAsync = promisify(ftruncate);

export interface JournalRecord {
  offset: number;
  key: string;
  headers: Record<string, string>;
  value: Buffer;
}

const SEGMENT_BYTES = 64 * 1024 * 1024;
const ERROR_HOLD_MS = 1000;
const HEADER_BYTES = 8; // u32 payload length, u32 crc32 of the payload

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
  #pending: Array<{ buffers: Buffer[]; count: number; resolve: (offsets: number[]) => void; reject: (err: Error) => void }> = [];
  #flushing: Promise<void> | null = null;
  #lastError: { error: Error; at: number } | null = null;

  constructor(private readonly dir: string) {}

  /** Opens the journal and returns the records not yet checkpointed, to be replayed. */
  open(): JournalRecord[] {
    mkdirSync(this.dir, { recursive: true });
    this.#checkpoint = this.#readCheckpoint();
    const segments = this.#segments();
    const replay: JournalRecord[] = [];
    let next = this.#checkpoint;
    let lastEnd = -1;
    for (const start of segments) {
      const path = this.#segmentPath(start);
      const { records, validBytes, totalBytes } = decodeSegment(readFileSync(path), start);
      if (validBytes < totalBytes) {
        // A torn tail is a write that never reached fsync, so it was never acknowledged.
        const fd = openSync(path, 'r+');
        try {
          ftruncateSync(fd, validBytes);
          fsyncSync(fd);
        } finally {
          closeSync(fd);
        }
      }
      for (const record of records) if (record.offset >= this.#checkpoint) replay.push(record);
      lastEnd = start + records.length;
      next = Math.max(next, lastEnd);
    }
    this.#nextOffset = next;
    const last = segments[segments.length - 1];
    // Keep appending to the last segment only while its record count still maps onto the offsets.
    const reuse = last !== undefined && lastEnd === next && statSync(this.#segmentPath(last)).size < SEGMENT_BYTES;
    this.#openSegment(reuse ? last : next, 'a');
    return replay;
  }

  get nextOffset(): number {
    return this.#nextOffset;
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
    const buffers = records.flatMap(encodeRecord);
    const durable = new Promise<number[]>((resolve, reject) =>
      this.#pending.push({ buffers, count: records.length, resolve, reject }),
    );
    if (!this.#flushing) this.#flushing = this.#flushLoop();
    return durable;
  }

  async #flushLoop(): Promise<void> {
    while (this.#pending.length > 0) {
      const batch = this.#pending;
      this.#pending = [];
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

  /** Everything below `offset` was processed; older segments can go. Losing this write only means more replay. */
  checkpoint(offset: number): void {
    if (offset <= this.#checkpoint) return;
    this.#checkpoint = offset;
    const tmp = join(this.dir, 'checkpoint.json.tmp');
    try {
      writeFileSync(tmp, JSON.stringify({ offset }));
      renameSync(tmp, join(this.dir, 'checkpoint.json'));
      const segments = this.#segments();
      for (let i = 0; i + 1 < segments.length; i++) {
        const nextStart = segments[i + 1]!;
        if (nextStart <= offset && segments[i] !== this.#segmentStart) unlinkSync(this.#segmentPath(segments[i]!));
      }
    } catch {
      // The checkpoint is an optimisation; a stale one replays already-processed webhooks (same event_ids).
    }
  }

  async close(): Promise<void> {
    while (this.#flushing) await this.#flushing;
    if (this.#fd >= 0) closeSync(this.#fd);
    this.#fd = -1;
  }

  #roll(): void {
    closeSync(this.#fd);
    this.#openSegment(this.#nextOffset, 'a');
  }

  #openSegment(start: number, flags: 'a'): void {
    this.#segmentStart = start;
    const path = this.#segmentPath(start);
    this.#fd = openSync(path, flags);
    this.#segmentBytes = statSync(path).size;
    const dirFd = openSync(this.dir, 'r');
    try {
      fsyncSync(dirFd); // the new file's directory entry must survive a crash too
    } finally {
      closeSync(dirFd);
    }
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

  #readCheckpoint(): number {
    try {
      const parsed = JSON.parse(readFileSync(join(this.dir, 'checkpoint.json'), 'utf8')) as { offset?: unknown };
      return typeof parsed.offset === 'number' && parsed.offset >= 0 ? parsed.offset : 0;
    } catch {
      return 0;
    }
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
