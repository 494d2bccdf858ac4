import { randomUUID } from 'node:crypto';
import { appendFile, mkdir, open } from 'node:fs/promises';
import { join } from 'node:path';
import type { Logger } from '../../shared/logger';
import { backoffMs, sleep } from '../../shared/backoff';
import type { Topics } from '../topics';
import type { BatchContext, Bus, BusMessage, ConsumeOptions, Consumer, OutgoingMessage, Writability } from '../bus';
import { BusUnavailableError, withDeadline } from '../bus';
import { CompactedStore } from './compacted-store';
import { Journal } from './journal';

interface Entry {
  key: string;
  value: Buffer | null;
  headers: Record<string, string>;
  /** Offset of the raw webhook this message derives from: the journal keeps it until every derivative is committed. */
  root: number;
  bytes: number;
  /** Sequence number in the compacted store, for topics kept on disk. */
  seq?: number;
  /** When the entry joined the log: a batch lingers from its oldest message, not from when the consumer looked. */
  appendedAt?: number;
}

/**
 * What an entry holds besides its value (the entry, its headers and key, the Buffer and ArrayBuffer
 * objects), as a heap snapshot under a flood showed: about as much as a normalized event's bytes.
 * Counting only values let the backlog bound hold twice the memory it names.
 */
const ENTRY_OVERHEAD_BYTES = 384;

/** Entries of compacted topics are durable themselves: they never hold the raw journal back. */
const NO_ROOT = Number.MAX_SAFE_INTEGER;

class TopicLog {
  constructor(readonly name: string) {}

  /** Offset of entries[0]. */
  base = 0;
  entries: Entry[] = [];
  /** Memory held by the entries: their values plus ENTRY_OVERHEAD_BYTES each. */
  bytes = 0;
  readonly groups = new Map<string, EmbeddedConsumer>();
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

  at(offset: number): Entry | undefined {
    return this.entries[offset - this.base];
  }

  /** Drops what every group has committed. */
  trim(): void {
    let low = this.end;
    for (const consumer of this.groups.values()) low = Math.min(low, consumer.committedOf(this.name));
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

export interface EmbeddedBusOptions {
  dataDir: string;
  topics: Topics;
  /** Topics kept on disk as compacted logs (default: the incidents topic). */
  compacted?: string[];
  maxBacklogBytes: number;
  logger: Logger;
}

/**
 * One process, one partition per topic, Kafka's delivery rules. Raw webhooks are journaled (fsync,
 * group commit) before `produce` resolves; everything derived from them lives in memory and is
 * rebuilt after a crash by replaying the journal from the last checkpoint, which only advances
 * past a webhook once every message derived from it was committed by every group.
 * Compacted topics (incidents) are kept on disk with each group's position (see CompactedStore).
 * Dead letters are appended to DATA_DIR/dlq.ndjson, fsynced.
 */
export class EmbeddedBus implements Bus {
  readonly kind = 'embedded' as const;
  readonly #topics = new Map<string, TopicLog>();
  readonly #journal: Journal;
  #started = false;
  #closed = false;
  /** Raw writes whose caller's deadline passed before the journal answered. */
  #overdueWrites = 0;

  readonly #stores = new Map<string, { store: CompactedStore; latest: Map<string, Entry> }>();

  constructor(private readonly options: EmbeddedBusOptions) {
    this.#journal = new Journal(join(options.dataDir, 'raw'));
    for (const topic of options.compacted ?? [options.topics.incidents]) {
      const store = new CompactedStore(join(options.dataDir, 'topics'), topic);
      const latest = new Map<string, Entry>();
      const log = this.#log(topic);
      for (const record of store.load()) {
        const entry = { key: record.key, value: record.value, headers: record.headers, root: NO_ROOT, bytes: record.value.length, seq: record.seq };
        latest.set(record.key, entry);
        log.append(entry);
      }
      this.#stores.set(topic, { store, latest });
    }
  }

  async start(): Promise<void> {
    const replay = this.#journal.open();
    this.#started = true;
    const raw = this.#log(this.options.topics.raw);
    raw.base = replay[0]?.offset ?? this.#journal.nextOffset;
    for (const consumer of raw.groups.values()) consumer.positions.set(raw.name, raw.base);
    if (replay.length > 0) this.options.logger.info('replaying journaled webhooks', { count: replay.length, from: replay[0]!.offset });
    for (const record of replay) this.#appendRaw(record.offset, record.key, record.value, record.headers);
    this.#advanceCheckpoint();
  }

  writable(): Writability {
    if (!this.#started || this.#closed) return { ok: false, reason: 'bus not started', retryAfterS: 5 };
    // What is held in memory (webhooks not yet normalized, events not yet delivered) is the bound.
    let held = 0;
    for (const log of this.#topics.values()) held += log.bytes;
    if (held >= this.options.maxBacklogBytes) return { ok: false, reason: 'backlog over its bound', retryAfterS: 5 };
    const error = this.#journal.lastError;
    if (error) return { ok: false, reason: `journal write failed: ${error.message}`, retryAfterS: 10 };
    if (this.#overdueWrites > 0) return { ok: false, reason: 'a journal write is overdue (slow disk)', retryAfterS: 5 };
    return { ok: true };
  }

  async produce(topic: string, messages: OutgoingMessage[], options: { timeoutMs?: number } = {}): Promise<void> {
    if (topic === this.options.topics.raw) return this.#produceRaw(messages, options.timeoutMs);
    return this.#produceDerived(topic, messages, this.#rawEnd());
  }

  async #produceRaw(messages: OutgoingMessage[], timeoutMs?: number): Promise<void> {
    if (!this.#started || this.#closed) throw new BusUnavailableError('bus not started');
    const records = messages.map((m) => ({ key: m.key, headers: m.headers ?? {}, value: m.value ?? Buffer.alloc(0) }));
    const written = this.#journal.append(records).then((offsets) => {
      records.forEach((record, i) => this.#appendRaw(offsets[i]!, record.key, record.value, record.headers));
    });
    if (timeoutMs === undefined) return written;
    // A write past its deadline still lands and is processed; until it does, the disk is too slow
    // to promise anything, so the bus stays unwritable.
    return withDeadline(written, timeoutMs, () => {
      this.#overdueWrites++;
      const settled = (): void => void this.#overdueWrites--;
      written.then(settled, settled);
    });
  }

  #appendRaw(offset: number, key: string, value: Buffer, headers: Record<string, string>): void {
    this.#log(this.options.topics.raw).append({ key, value, headers, root: offset, bytes: value.length });
  }

  async #produceDerived(topic: string, messages: OutgoingMessage[], root: number): Promise<void> {
    if (topic === this.options.topics.dlq) return this.#writeDeadLetters(messages);
    const log = this.#log(topic);
    const stored = this.#stores.get(topic);
    if (stored) {
      const seqs = await stored.store.append(messages.map((m) => ({ key: m.key, headers: m.headers ?? {}, value: m.value })));
      messages.forEach((message, i) => {
        const entry = { key: message.key, value: message.value, headers: message.headers ?? {}, root: NO_ROOT, bytes: message.value?.length ?? 0, seq: seqs[i]! };
        if (message.value === null) stored.latest.delete(message.key);
        else stored.latest.set(message.key, entry);
        log.append(entry);
      });
    } else {
      for (const message of messages) {
        if (message.value === null) continue; // tombstones only mean something in compacted topics
        log.append({ key: message.key, value: message.value, headers: message.headers ?? {}, root, bytes: message.value.length });
      }
    }
    if (log.groups.size === 0) log.trim();
  }

  async partitionOf(): Promise<(key: string) => number> {
    return () => 0;
  }

  async snapshot(topic: string): Promise<BusMessage[]> {
    const stored = this.#stores.get(topic);
    if (!stored) throw new Error(`${topic} is not a compacted topic`);
    return [...stored.latest.values()].map((entry) => ({
      topic,
      partition: 0,
      offset: String(entry.seq),
      key: entry.key,
      value: entry.value,
      headers: entry.headers,
    }));
  }

  async #writeDeadLetters(messages: OutgoingMessage[]): Promise<void> {
    await mkdir(this.options.dataDir, { recursive: true });
    const path = join(this.options.dataDir, 'dlq.ndjson');
    const lines = messages.map((m) => `${(m.value ?? Buffer.alloc(0)).toString('utf8')}\n`).join('');
    await appendFile(path, lines);
    const handle = await open(path, 'r');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
  }

  async consume(options: ConsumeOptions): Promise<Consumer> {
    const consumer = new EmbeddedConsumer(this, options, this.options.logger);
    for (const topic of options.topics) {
      const log = this.#log(topic);
      if (log.groups.has(consumer.group)) throw new Error(`group ${consumer.group} already consumes ${topic} in this process`);
      log.groups.set(consumer.group, consumer);
      consumer.positions.set(topic, this.#startPosition(log, consumer.group, options.ephemeral ?? false));
    }
    await options.onAssign?.(options.topics.map((topic) => ({ topic, partitions: [0] })));
    consumer.run();
    return consumer;
  }

  /** @internal */ log(topic: string): TopicLog {
    return this.#log(topic);
  }

  /** Where a group starts: compacted topics resume after the group's stored position; ephemeral readers read everything. */
  #startPosition(log: TopicLog, group: string, ephemeral: boolean): number {
    const stored = this.#stores.get(log.name);
    if (!stored || ephemeral) return log.base;
    const committed = stored.store.committed(group);
    for (let offset = log.base; offset < log.end; offset++) if ((log.at(offset)!.seq ?? 0) >= committed) return offset;
    return log.end;
  }

  /** @internal called by a consumer after its handler resolved. */
  committed(group: string, topic: string, position: number, ephemeral: boolean): void {
    const stored = this.#stores.get(topic);
    if (stored && !ephemeral) stored.store.commit(group, this.#log(topic).at(position)?.seq ?? stored.store.nextSeq);
    for (const log of this.#topics.values()) log.trim();
    this.#advanceCheckpoint();
  }

  /** @internal derived messages produced by a handler inherit the oldest root of its batch. */
  produceFor(root: number) {
    return (topic: string, messages: OutgoingMessage[]): Promise<void> =>
      topic === this.options.topics.raw ? this.#produceRaw(messages) : this.#produceDerived(topic, messages, root);
  }

  async lag() {
    const out: Array<{ group: string; topic: string; partition: number; lag: number }> = [];
    for (const [topic, log] of this.#topics)
      for (const [group, consumer] of log.groups) out.push({ group, topic, partition: 0, lag: log.end - consumer.committedOf(topic) });
    return out;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#advanceCheckpoint();
    await this.#journal.close();
  }

  #log(topic: string): TopicLog {
    let log = this.#topics.get(topic);
    if (!log) {
      log = new TopicLog(topic);
      this.#topics.set(topic, log);
    }
    return log;
  }

  #rawEnd(): number {
    return this.#journal.nextOffset;
  }

  /** The journal may forget webhooks below the oldest root any group still has to process. */
  #advanceCheckpoint(): void {
    if (!this.#started) return;
    let low = this.#rawEnd();
    for (const log of this.#topics.values()) {
      for (const consumer of log.groups.values()) {
        const root = log.oldestRoot(consumer.committedOf(log.name));
        if (root !== undefined) low = Math.min(low, root);
      }
    }
    this.#journal.checkpoint(low);
  }
}

class EmbeddedConsumer implements Consumer {
  readonly group: string;
  readonly positions = new Map<string, number>();
  readonly #abort = new AbortController();
  #loop: Promise<void> | null = null;
  #running = true;

  constructor(
    private readonly bus: EmbeddedBus,
    private readonly options: ConsumeOptions,
    private readonly logger: Logger,
  ) {
    this.group = options.ephemeral ? `${options.group}-${randomUUID()}` : options.group;
  }

  committedOf(topic: string): number {
    return this.positions.get(topic) ?? 0;
  }

  ready(): boolean {
    return this.#running;
  }

  run(): void {
    this.#loop = this.#runLoop();
  }

  async #runLoop(): Promise<void> {
    const maxBatch = this.options.maxBatch ?? 500;
    const lingerMs = this.options.lingerMs ?? 0;
    let failures = 0;
    while (this.#running) {
      const next = await this.#nextBatch(maxBatch, lingerMs);
      if (!next) continue;
      const { topic, messages, end, root } = next;
      const context: BatchContext = { produce: this.bus.produceFor(root), signal: this.#abort.signal };
      try {
        await this.options.handler(messages, context);
        failures = 0;
        this.positions.set(topic, end);
        this.bus.committed(this.group, topic, end, this.options.ephemeral ?? false);
      } catch (err) {
        if (!this.#running) break;
        // At-least-once: the same batch comes again after a pause. Handlers dead-letter what can never succeed.
        failures++;
        this.logger.error('consumer handler failed; batch will be redelivered', { group: this.group, topic, error: (err as Error).message });
        await sleep(backoffMs(failures, 200, 30000), this.#abort.signal).catch(() => undefined);
      }
    }
  }

  async #nextBatch(maxBatch: number, lingerMs: number): Promise<{ topic: string; messages: BusMessage[]; end: number; root: number } | null> {
    for (const topic of this.options.topics) {
      const log = this.bus.log(topic);
      const position = this.positions.get(topic)!;
      if (log.end <= position) continue;
      if (lingerMs > 0 && log.end - position < maxBatch) {
        const waited = performance.now() - (log.at(position)?.appendedAt ?? performance.now());
        if (waited < lingerMs) await this.#wait([topic], lingerMs - waited, () => log.end - position >= maxBatch);
      }
      if (!this.#running) return null;
      const end = Math.min(log.end, position + maxBatch);
      const messages: BusMessage[] = [];
      let root = Number.MAX_SAFE_INTEGER;
      for (let offset = position; offset < end; offset++) {
        const entry = log.at(offset)!;
        root = Math.min(root, entry.root);
        messages.push({ topic, partition: 0, offset: String(offset), key: entry.key, value: entry.value, headers: entry.headers });
      }
      return { topic, messages, end, root };
    }
    await this.#wait(this.options.topics, 0, () => false);
    return null;
  }

  /** Waits for new messages on `topics` (or `timeoutMs`, when > 0) or until stopped. */
  #wait(topics: string[], timeoutMs: number, done: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const logs = topics.map((t) => this.bus.log(t));
      let timer: NodeJS.Timeout | undefined;
      const finish = (): void => {
        if (timer) clearTimeout(timer);
        for (const log of logs) log.waiters.delete(wake);
        this.#abort.signal.removeEventListener('abort', finish);
        resolve();
      };
      const wake = (): void => {
        if (timeoutMs === 0 || done()) finish();
        else for (const log of logs) log.waiters.add(wake);
      };
      for (const log of logs) log.waiters.add(wake);
      if (timeoutMs > 0) timer = setTimeout(finish, timeoutMs);
      this.#abort.signal.addEventListener('abort', finish, { once: true });
    });
  }

  async stop(): Promise<void> {
    this.#running = false;
    this.#abort.abort();
    await this.#loop;
  }
}
