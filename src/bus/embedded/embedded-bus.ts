import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { deadLetter } from '../../dlq/dead-letter';
import { REDRIVE_TOPIC_HEADER } from '../../dlq/letters';
import type { Logger } from '../../shared/logger';
import type { Topics } from '../topics';
import type { BatchContext, Bus, BusMessage, ConsumeOptions, Consumer, OutgoingMessage, Writability } from '../bus';
import { BusUnavailableError, withDeadline } from '../bus';
import { AssignmentGate, chunkRunner } from '../consumer-core';
import { CompactedStore } from './compacted-store';
import { DlqFile } from './dlq-file';
import { Journal, type JournalStart } from './journal';
import { TopicLog, type Entry } from './topic-log';

/** Entries of compacted topics are durable themselves: they never hold the raw journal back. */
const NO_ROOT = Number.MAX_SAFE_INTEGER;

export interface EmbeddedBusOptions {
  dataDir: string;
  topics: Topics;
  /** Topics kept on disk as compacted logs (default: the incidents topic). */
  compacted?: string[];
  maxBacklogBytes: number;
  /** The group that normalizes raw webhooks: the journal never forgets what it has not committed. */
  rawGroup: string;
  /** Dead letters written by the bus itself (a quarantined webhook) are at most this large. */
  maxLetterBytes: number;
  logger: Logger;
  now?: () => number;
  /** Counts a dead letter the bus wrote itself (`crash_loop`), beside the stages' own. */
  onQuarantine?: () => void;
}

/** A DATA_DIR that cannot be used: start-up stops with the path and the OS reason (exit 2). */
export class DataDirError extends Error {
  constructor(dataDir: string, cause: Error) {
    super(`DATA_DIR: cannot use ${dataDir}: ${cause.message}`, { cause });
    this.name = 'DataDirError';
  }
}

/**
 * One process, one partition per topic, Kafka's delivery rules. Raw webhooks are journaled (fsync,
 * group commit) before `produce` resolves; everything derived from them lives in memory and is
 * rebuilt after a crash by replaying the journal from the last checkpoint, which only advances
 * past a webhook once every message derived from it was committed by every group, and never past
 * what the normalizer group has not committed (even when this process does not run it).
 * Compacted topics (incidents) are kept on disk with each group's position (see CompactedStore).
 * Dead letters are appended to DATA_DIR/dlq.ndjson, fsynced.
 */
export class EmbeddedBus implements Bus {
  readonly kind = 'embedded' as const;
  readonly #topics = new Map<string, TopicLog<EmbeddedConsumer>>();
  readonly #journal: Journal;
  readonly #stores = new Map<string, CompactedStore>();
  /**
   * Per compacted topic: the sequence number after the last record appended to its log. A group
   * caught up to the end commits this, never the store's next number: that one also counts
   * appends still in flight, which the group has not seen.
   */
  readonly #seen = new Map<string, number>();
  readonly #consumers = new Set<EmbeddedConsumer>();
  #started = false;
  #closed = false;
  #dead = false;
  /** Raw writes whose caller's deadline passed before the journal answered. */
  #overdueWrites = 0;
  /** Journal offset after the last raw record appended to the raw log. */
  #rawAppended = 0;
  /** Raw records the normalizer takes one at a time (after a run died while normalizing). */
  #careful = { from: 0, until: 0 };
  /** Producers of derived messages waiting for the backlog to drain. */
  readonly #drainWaiters = new Set<() => void>();

  /** `DATA_DIR/dlq.ndjson`. */
  readonly dlq: DlqFile;

  constructor(private readonly options: EmbeddedBusOptions) {
    this.#journal = new Journal(join(options.dataDir, 'raw'));
    this.dlq = new DlqFile(join(options.dataDir, 'dlq.ndjson'));
    for (const topic of options.compacted ?? [options.topics.incidents]) {
      const store = new CompactedStore(join(options.dataDir, 'topics'), topic);
      const log = this.#log(topic);
      let records;
      try {
        records = store.load();
      } catch (err) {
        throw new DataDirError(options.dataDir, err as Error);
      }
      for (const record of records) log.append({ key: record.key, value: record.value, headers: record.headers, root: NO_ROOT, bytes: record.value.length, seq: record.seq });
      this.#stores.set(topic, store);
      this.#seen.set(topic, store.nextSeq);
    }
  }

  async start(): Promise<void> {
    let start: JournalStart;
    try {
      start = this.#journal.open();
    } catch (err) {
      throw new DataDirError(this.options.dataDir, err as Error);
    }
    if (start.quarantine) this.#quarantine(start.quarantine);
    else if (start.deaths > 0)
      this.options.logger.warn('the last run died while normalizing; webhooks it held are normalized one at a time', { from: start.carefulFrom, until: start.carefulUntil, deaths: start.deaths });
    this.#careful = { from: start.carefulFrom, until: start.carefulUntil };
    this.#started = true;
    const raw = this.#log(this.options.topics.raw);
    raw.base = this.#journal.checkpointOffset;
    for (const consumer of raw.groups.values()) consumer.positions.set(raw.name, raw.base);
    this.#rawAppended = raw.base;
    if (start.replay.length > 0) this.options.logger.info('replaying journaled webhooks', { count: start.replay.length, from: start.replay[0]!.offset });
    for (const record of start.replay) this.#appendRaw(record.offset, record.key, record.value, record.headers);
    this.#rawAppended = this.#journal.nextOffset;
    this.#advanceCheckpoint();
  }

  /** A webhook that was being normalized when the process died twice goes to the DLQ instead of a third try. */
  #quarantine(record: JournalStart['quarantine'] & object): void {
    const source: BusMessage = { topic: this.options.topics.raw, partition: 0, offset: String(record.offset), key: record.key, value: record.value, headers: record.headers };
    const letter = deadLetter(
      'normalizer',
      'crash_loop',
      'the process died twice while this webhook was being normalized; quarantined so the rest can go on',
      source,
      { now: (this.options.now ?? Date.now)(), maxValueBytes: this.options.maxLetterBytes },
    );
    this.dlq.appendSync(letter.value!.toString('utf8'));
    this.options.onQuarantine?.();
    this.options.logger.error('webhook quarantined to the DLQ (reason crash_loop): the process died twice while normalizing it', { offset: record.offset, bytes: record.value.length });
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

  /**
   * The raw topic (the ingress), and state that is durable by itself (compacted topics, the DLQ).
   * Messages derived from a webhook go through their batch's context, so the journal keeps the
   * webhook until they are committed.
   */
  async produce(topic: string, messages: OutgoingMessage[], options: { timeoutMs?: number } = {}): Promise<void> {
    if (topic === this.options.topics.raw) return this.#produceRaw(messages, options.timeoutMs);
    if (!this.#stores.has(topic) && topic !== this.options.topics.dlq) throw new Error(`${topic}: derived messages are produced through their batch's context`);
    return this.#produceDerived(topic, messages, NO_ROOT);
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
    if (this.#dead) return;
    const target = headers[REDRIVE_TOPIC_HEADER];
    if (target !== undefined) {
      // A redriven message bound for a derived topic travelled through the journal to be durable;
      // it joins its topic with the journal holding it until its stage committed it.
      const { [REDRIVE_TOPIC_HEADER]: _target, ...rest } = headers;
      this.#log(target).append({ key, value, headers: rest, root: offset, bytes: value.length });
    } else this.#log(this.options.topics.raw).append({ key, value, headers, root: offset, bytes: value.length, offset });
    this.#rawAppended = Math.max(this.#rawAppended, offset + 1);
  }

  /**
   * Puts redriven messages back: into the raw journal (durable at once), raw webhooks for the
   * normalizer, others on to their topic once journaled.
   */
  async redrive(topic: string, messages: OutgoingMessage[]): Promise<void> {
    const raw = this.options.topics.raw;
    await this.#produceRaw(messages.map((m) => (topic === raw ? m : { ...m, headers: { ...m.headers, [REDRIVE_TOPIC_HEADER]: topic } })));
  }

  async #produceDerived(topic: string, messages: OutgoingMessage[], root: number, signal?: AbortSignal): Promise<void> {
    if (this.#dead) throw new BusUnavailableError('bus abandoned');
    if (topic === this.options.topics.dlq) return this.dlq.append(messages.map((m) => (m.value ?? Buffer.alloc(0)).toString('utf8')));
    const log = this.#log(topic);
    const store = this.#stores.get(topic);
    if (store) {
      const seqs = await store.append(messages.map((m) => ({ key: m.key, headers: m.headers ?? {}, value: m.value })));
      messages.forEach((message, i) => {
        log.append({ key: message.key, value: message.value, headers: message.headers ?? {}, root: NO_ROOT, bytes: message.value?.length ?? 0, seq: seqs[i]! });
        this.#seen.set(topic, Math.max(this.#seen.get(topic) ?? 0, seqs[i]! + 1));
      });
    } else {
      // Back-pressure: one webhook of 50,000 events must not turn into unbounded memory downstream.
      await this.#waitForRoom(signal);
      for (const message of messages) {
        if (message.value === null) continue; // tombstones only mean something in compacted topics
        log.append({ key: message.key, value: message.value, headers: message.headers ?? {}, root, bytes: message.value.length });
      }
    }
    if (log.groups.size === 0) log.trim();
  }

  /** Waits while derived messages held in memory are over the backlog bound (they drain as groups commit). */
  async #waitForRoom(signal?: AbortSignal): Promise<void> {
    while (this.#derivedBytes() >= this.options.maxBacklogBytes) {
      if (signal?.aborted || this.#dead) throw new BusUnavailableError('stopped while waiting for the backlog to drain');
      this.#journal.noteBackPressure();
      await new Promise<void>((resolve) => {
        const wake = (): void => {
          this.#drainWaiters.delete(wake);
          signal?.removeEventListener('abort', wake);
          clearTimeout(timer);
          resolve();
        };
        const timer = setTimeout(wake, 1000);
        this.#drainWaiters.add(wake);
        signal?.addEventListener('abort', wake, { once: true });
      });
    }
  }

  #derivedBytes(): number {
    let held = 0;
    for (const [topic, log] of this.#topics) if (topic !== this.options.topics.raw && !this.#stores.has(topic)) held += log.bytes;
    return held;
  }

  async partitionOf(): Promise<(key: string) => number> {
    return () => 0;
  }

  async snapshot(topic: string): Promise<BusMessage[]> {
    const store = this.#stores.get(topic);
    if (!store) throw new Error(`${topic} is not a compacted topic`);
    return store.live().map((record) => ({ topic, partition: 0, offset: String(record.seq), key: record.key, value: record.value, headers: record.headers }));
  }

  async consume(options: ConsumeOptions): Promise<Consumer> {
    const consumer = new EmbeddedConsumer(this, options, this.options.logger);
    const initial: BusMessage[] = [];
    for (const topic of options.topics) {
      const log = this.#log(topic);
      if (log.groups.has(consumer.group)) throw new Error(`group ${consumer.group} already consumes ${topic} in this process`);
      log.groups.set(consumer.group, consumer);
      if (options.ephemeral && this.#stores.has(topic)) {
        // A private view of a compacted topic: its whole state first (the in-memory log is trimmed), then what follows.
        initial.push(...(await this.snapshot(topic)));
        consumer.positions.set(topic, log.end);
      } else consumer.positions.set(topic, this.#startPosition(log, consumer.group, options.ephemeral ?? false));
    }
    this.#consumers.add(consumer);
    await consumer.start(initial);
    return consumer;
  }

  /** @internal */ log(topic: string): TopicLog<EmbeddedConsumer> {
    return this.#log(topic);
  }

  /** @internal how many raw messages from `position` the normalizer may take at once (one, for those a dead run held). */
  rawBatchLimit(topic: string, group: string, position: number, limit: number): number {
    if (topic !== this.options.topics.raw || group !== this.options.rawGroup) return limit;
    const root = this.#log(topic).at(position)?.root;
    return root !== undefined && root >= this.#careful.from && root < this.#careful.until ? 1 : limit;
  }

  /** Where a group starts: compacted topics resume after the group's stored position; ephemeral readers read everything. */
  #startPosition(log: TopicLog<EmbeddedConsumer>, group: string, ephemeral: boolean): number {
    const store = this.#stores.get(log.name);
    if (!store || ephemeral) return log.base;
    const committed = store.committed(group);
    for (let offset = log.base; offset < log.end; offset++) if ((log.at(offset)!.seq ?? 0) >= committed) return offset;
    return log.end;
  }

  /** @internal called by a consumer after its handler resolved. */
  committed(group: string, topic: string, position: number, ephemeral: boolean): void {
    if (this.#dead) return;
    const store = this.#stores.get(topic);
    if (store && !ephemeral) store.commit(group, this.#log(topic).at(position)?.seq ?? this.#seen.get(topic)!);
    for (const log of this.#topics.values()) log.trim();
    for (const wake of [...this.#drainWaiters]) wake();
    this.#advanceCheckpoint();
  }

  /** @internal a handler's context: derived messages inherit the oldest root of its batch. */
  contextFor(root: number, signal: AbortSignal, generation: number): BatchContext {
    return {
      signal,
      generation,
      produce: (topic, messages) =>
        topic === this.options.topics.raw ? this.#produceRaw(messages) : this.#produceDerived(topic, messages, root, signal),
    };
  }

  async lag() {
    const out: Array<{ group: string; topic: string; partition: number; lag: number }> = [];
    for (const [topic, log] of this.#topics)
      for (const [group, consumer] of log.groups) if (!consumer.ephemeral) out.push({ group, topic, partition: 0, lag: log.end - consumer.committedOf(topic) });
    return out;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#advanceCheckpoint();
    await this.#journal.close();
  }

  /**
   * An in-process crash, for tests: from now on nothing reaches DATA_DIR (no append, no commit, no
   * checkpoint), consumers let go of their batches, and the writes in flight settle, so that a new
   * bus can open the same directory as after `kill -9`.
   */
  async abandon(): Promise<void> {
    this.#dead = true;
    this.#closed = true;
    // Handlers in flight are not waited for (a crash does not wait either): whatever they still
    // try to produce or commit is refused.
    for (const consumer of this.#consumers) consumer.abort();
    await Promise.all([this.#journal.abandon(), ...[...this.#stores.values()].map((s) => s.abandon())]);
  }

  /** @internal */ forget(consumer: EmbeddedConsumer): void {
    this.#consumers.delete(consumer);
    for (const log of this.#topics.values()) if (log.groups.get(consumer.group) === consumer && consumer.ephemeral) log.groups.delete(consumer.group);
  }

  #log(topic: string): TopicLog<EmbeddedConsumer> {
    let log = this.#topics.get(topic);
    if (!log) {
      log = new TopicLog<EmbeddedConsumer>(topic);
      this.#topics.set(topic, log);
    }
    return log;
  }

  /** The journal may forget webhooks below the oldest root any group still has to process. */
  #advanceCheckpoint(): void {
    if (!this.#started || this.#dead) return;
    const raw = this.#log(this.options.topics.raw);
    const normalizer = raw.groups.get(this.options.rawGroup);
    // Without the normalizer in this process, nothing here may decide that a webhook is done.
    if (!normalizer) return;
    let low = this.#rawAppended;
    for (const log of this.#topics.values()) {
      for (const consumer of log.groups.values()) {
        const root = log.oldestRoot(consumer.committedOf(log.name));
        if (root !== undefined) low = Math.min(low, root);
      }
    }
    this.#journal.checkpoint(low, raw.at(normalizer.committedOf(raw.name))?.root ?? this.#rawAppended);
  }
}

class EmbeddedConsumer implements Consumer {
  readonly group: string;
  readonly ephemeral: boolean;
  readonly positions = new Map<string, number>();
  readonly #abort = new AbortController();
  readonly #gate = new AssignmentGate();
  #loop: Promise<void> | null = null;
  #running = true;
  /** Where the next batch is looked for first: topics take turns, so a busy one cannot starve another. */
  #turn = 0;

  constructor(
    private readonly bus: EmbeddedBus,
    private readonly options: ConsumeOptions,
    private readonly logger: Logger,
  ) {
    this.ephemeral = options.ephemeral ?? false;
    this.group = this.ephemeral ? `${options.group}-${randomUUID()}` : options.group;
  }

  committedOf(topic: string): number {
    return this.positions.get(topic) ?? 0;
  }

  ready(): boolean {
    return this.#running && this.#gate.ready();
  }

  assigned(): number | null {
    return this.ready() ? this.#gate.generation : null;
  }

  async start(initial: BusMessage[]): Promise<void> {
    let failure: Error | null = null;
    await this.#gate.assign(
      (generation) => this.options.onAssign?.(this.options.topics.map((topic) => ({ topic, partitions: [0] })), generation),
      (err) => (failure = err),
    );
    if (failure) throw failure;
    this.#loop = this.#runLoop(initial);
  }

  async #runLoop(initial: BusMessage[]): Promise<void> {
    const runner = chunkRunner({ group: this.group, handler: this.options.handler, logger: this.logger, signal: this.#abort.signal, stage: this.options.stage, onRedriven: this.options.onRedriven });
    const context = (root: number): BatchContext => this.bus.contextFor(root, this.#abort.signal, this.#gate.generation);
    const stillOwner = (): boolean => this.#running;
    if (initial.length > 0 && !(await runner.run(initial, context(Number.MAX_SAFE_INTEGER), { topic: initial[0]!.topic, partition: 0, stillOwner }))) return;
    while (this.#running) {
      const next = await this.#nextBatch();
      if (!next) continue;
      const { topic, messages, end, root } = next;
      if (!(await runner.run(messages, context(root), { topic, partition: 0, stillOwner }))) break;
      this.positions.set(topic, end);
      this.bus.committed(this.group, topic, end, this.ephemeral);
      // Batches that need no I/O must not keep timers and sockets waiting behind an endless run of them.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  async #nextBatch(): Promise<{ topic: string; messages: BusMessage[]; end: number; root: number } | null> {
    const topics = this.options.topics;
    const maxBatch = this.options.maxBatch ?? 500;
    const maxBytes = this.options.maxBatchBytes ?? Infinity;
    const lingerMs = this.options.lingerMs ?? 0;
    for (let i = 0; i < topics.length; i++) {
      const topic = topics[(this.#turn + i) % topics.length]!;
      const log = this.bus.log(topic);
      const position = this.positions.get(topic)!;
      if (log.end <= position) continue;
      this.#turn = (this.#turn + i + 1) % topics.length;
      const limit = this.bus.rawBatchLimit(topic, this.options.group, position, maxBatch);
      if (lingerMs > 0 && log.end - position < limit) {
        const waited = performance.now() - (log.at(position)?.appendedAt ?? performance.now());
        if (waited < lingerMs) await this.#wait([topic], lingerMs - waited, () => log.end - position >= limit);
      }
      if (!this.#running) return null;
      const messages: BusMessage[] = [];
      let root = Number.MAX_SAFE_INTEGER;
      let bytes = 0;
      let offset = position;
      for (; offset < Math.min(log.end, position + limit); offset++) {
        const entry: Entry = log.at(offset)!;
        if (messages.length > 0 && bytes + entry.bytes > maxBytes) break;
        bytes += entry.bytes;
        root = Math.min(root, entry.root);
        messages.push({ topic, partition: 0, offset: String(entry.offset ?? offset), key: entry.key, value: entry.value, headers: entry.headers });
      }
      return { topic, messages, end: offset, root };
    }
    await this.#wait(topics, 0, () => false);
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

  /** Lets go at once: the batch in hand stays uncommitted. */
  abort(): void {
    this.#running = false;
    this.#abort.abort();
  }

  async stop(): Promise<void> {
    this.abort();
    await this.#loop;
    this.bus.forget(this);
  }
}
