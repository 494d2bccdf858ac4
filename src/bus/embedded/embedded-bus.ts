import { join } from 'node:path';
import { REDRIVE_TOPIC_HEADER } from '../../dlq/letters';
import type { Logger } from '../../shared/logger';
import type { Topics } from '../topics';
import type { BatchContext, Bus, BusMessage, ConsumeOptions, Consumer, OutgoingMessage, Writability } from '../bus';
import { BusUnavailableError } from '../bus';
import { CompactedTopics, NO_ROOT } from './compacted-topics';
import { DlqFile } from './dlq-file';
import { EmbeddedConsumer, type ConsumerHost } from './embedded-consumer';
import type { JournalRecord } from './journal';
import { RawTopic } from './raw-topic';
import { TopicLog } from './topic-log';
import { MemoryAccount } from '../../shared/memory-account';

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
  /** The process's reservations (default: one of its own, bounded by maxBacklogBytes). */
  memory?: MemoryAccount;
  /** Normalized webhooks kept for `mistbridge redeliver` (RAW_RETENTION_S, RAW_RETENTION_BYTES); default none. */
  rawArchive?: { maxAgeMs: number; maxBytes: number };
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
 * group commit) before `produce` resolves (RawTopic); everything derived from them lives in memory
 * and is rebuilt after a crash by replaying the journal from the last checkpoint, which only
 * advances past a webhook once every message derived from it was committed by every group, and
 * never past what the normalizer group has not committed (even when this process does not run it).
 * Compacted topics are kept on disk with each group's position (CompactedTopics). Dead letters
 * are appended to DATA_DIR/dlq.ndjson, fsynced. Each group's loop is an EmbeddedConsumer.
 */
export class EmbeddedBus implements Bus, ConsumerHost {
  readonly kind = 'embedded' as const;
  readonly #topics = new Map<string, TopicLog<EmbeddedConsumer>>();
  readonly #raw: RawTopic;
  readonly #compacted: CompactedTopics;
  readonly #consumers = new Set<EmbeddedConsumer>();
  #started = false;
  #closed = false;
  #dead = false;
  /** Journal offset after the last raw record appended to the raw log. */
  #rawAppended = 0;

  /** `DATA_DIR/dlq.ndjson`. */
  readonly dlq: DlqFile;

  readonly #memory: MemoryAccount;

  constructor(private readonly options: EmbeddedBusOptions) {
    this.#memory = options.memory ?? new MemoryAccount(options.maxBacklogBytes, null);
    // Events and incidents not yet delivered are held in memory (raw webhooks wait on disk).
    this.#memory.source('backlog', () => this.#backlogBytes(false));
    this.dlq = new DlqFile(join(options.dataDir, 'dlq.ndjson'));
    this.#raw = new RawTopic({ dataDir: options.dataDir, topic: options.topics.raw, maxLetterBytes: options.maxLetterBytes, logger: options.logger, now: options.now ?? Date.now, onQuarantine: options.onQuarantine, archive: options.rawArchive }, this.dlq);
    try {
      this.#compacted = new CompactedTopics(options.dataDir, options.compacted ?? [options.topics.incidents]);
    } catch (err) {
      throw new DataDirError(options.dataDir, err as Error);
    }
  }

  async start(): Promise<void> {
    let replay;
    try {
      replay = this.#raw.open();
    } catch (err) {
      throw new DataDirError(this.options.dataDir, err as Error);
    }
    this.#started = true;
    const raw = this.log(this.options.topics.raw);
    raw.base = this.#raw.journal.checkpointOffset;
    for (const consumer of raw.groups.values()) consumer.moveTo(raw.name, raw.base);
    this.#rawAppended = raw.base;
    for (const record of replay) this.#appendRaw(record);
    this.#rawAppended = this.#raw.journal.nextOffset;
    this.#advanceCheckpoint();
  }

  writable(): Writability {
    if (!this.#started || this.#closed) return { ok: false, reason: 'bus not started', retryAfterS: 5 };
    // Webhooks not yet normalized wait on disk: their bytes are the bound of the work ahead;
    // memory (events not yet delivered, work in hand) is the account's. Compacted topics are
    // durable state of their own, never webhook backlog.
    if (this.#backlogBytes(true) - this.#backlogBytes(false) >= this.options.maxBacklogBytes) return { ok: false, reason: 'webhooks not yet normalized over INGRESS_MAX_BACKLOG_BYTES', retryAfterS: 5 };
    const memory = this.#memory.over();
    if (memory) return { ok: false, reason: memory, retryAfterS: 5 };
    const refused = this.#raw.unwritable();
    return refused ? { ok: false, ...refused } : { ok: true };
  }

  /**
   * The raw topic (the ingress), and state that is durable by itself (compacted topics, the DLQ).
   * Messages derived from a webhook go through their batch's context, so the journal keeps the
   * webhook until they are committed.
   */
  async produce(topic: string, messages: OutgoingMessage[], options: { timeoutMs?: number } = {}): Promise<void> {
    if (topic === this.options.topics.raw) return this.#produceRaw(messages, options.timeoutMs);
    if (!this.#compacted.has(topic) && topic !== this.options.topics.dlq) throw new Error(`${topic}: derived messages are produced through their batch's context`);
    return this.#produceDerived(topic, messages, NO_ROOT);
  }

  async #produceRaw(messages: OutgoingMessage[], timeoutMs?: number): Promise<void> {
    if (!this.#started || this.#closed) throw new BusUnavailableError('bus not started');
    await this.#raw.write(messages, (records) => records.forEach((r) => this.#appendRaw(r)), timeoutMs);
  }

  /**
   * A journaled record joins its topic: values stay on disk (read when a consumer takes them), so
   * a backlog of webhooks, or a replay after a crash, holds only their places in memory.
   */
  #appendRaw(record: JournalRecord): void {
    if (this.#dead) return;
    const { offset, key, location } = record;
    const load = (): Buffer => this.#raw.journal.read(location);
    const target = record.headers[REDRIVE_TOPIC_HEADER];
    if (target !== undefined) {
      // A redriven message bound for a derived topic travelled through the journal to be durable;
      // it joins its topic with the journal holding it until its stage committed it.
      const { [REDRIVE_TOPIC_HEADER]: _target, ...headers } = record.headers;
      this.log(target).append({ key, value: null, load, headers, root: offset, bytes: location.length });
    } else this.log(this.options.topics.raw).append({ key, value: null, load, headers: record.headers, root: offset, bytes: location.length, offset });
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
    const log = this.log(topic);
    if (this.#compacted.has(topic)) await this.#compacted.append(topic, messages, log);
    else {
      // Back-pressure: one webhook of 50,000 events must not turn into unbounded memory downstream.
      await this.#waitForRoom(signal);
      for (const message of messages) {
        if (message.value === null) continue; // tombstones only mean something in compacted topics
        log.append({ key: message.key, value: message.value, headers: message.headers ?? {}, root, bytes: message.value.length });
      }
    }
    if (log.groups.size === 0) log.trim();
  }

  /** Waits while the reservations are at their bound (they drain as groups commit); the normalizer is parked meanwhile. */
  async #waitForRoom(signal?: AbortSignal): Promise<void> {
    let parked = false;
    await this.#memory.waitForRoom(signal, ['normalizing'], () => {
      if (!parked) this.#raw.journal.park((parked = true));
    });
    if (parked) this.#raw.journal.park(false);
    if (signal?.aborted || this.#dead) throw new BusUnavailableError('stopped while waiting for the backlog to drain');
  }

  /** Bytes of messages held in memory that derive from webhooks (and of the webhooks themselves, with `raw`). */
  #backlogBytes(raw: boolean): number {
    let held = 0;
    for (const [topic, log] of this.#topics) if ((raw || topic !== this.options.topics.raw) && !this.#compacted.has(topic)) held += log.bytes;
    return held;
  }

  async partitionOf(): Promise<(key: string) => number> {
    return () => 0;
  }

  async snapshot(topic: string) {
    return this.#compacted.snapshot(topic);
  }

  async consume(options: ConsumeOptions): Promise<Consumer> {
    const consumer = new EmbeddedConsumer(this, options, this.options.logger);
    for (const topic of options.topics) {
      const log = this.log(topic);
      if (log.groups.has(consumer.group)) throw new Error(`group ${consumer.group} already consumes ${topic} in this process`);
      log.groups.set(consumer.group, consumer);
    }
    this.#consumers.add(consumer);
    await consumer.start();
    return consumer;
  }

  /** @internal where a consumer starts (again) in `topic`. */
  startOf(consumer: EmbeddedConsumer, topic: string): { catchUp: BusMessage[]; position: number } {
    const log = this.log(topic);
    if (this.#compacted.has(topic)) return this.#compacted.start(log, consumer.group, { ephemeral: consumer.ephemeral, fromEnd: consumer.fromEnd });
    return { catchUp: [], position: consumer.committedPosition(topic) ?? (consumer.fromEnd ? log.end : log.base) };
  }

  /** Compacted topics only (sequence numbers): what a projection needs to tell delivered from not. */
  async committedOffsets(group: string, topic: string): Promise<Map<number, string | null>> {
    return new Map([[0, this.#compacted.knows(group, topic) ? String(this.#compacted.committed(group, topic)) : null]]);
  }

  /** @internal */ log(topic: string): TopicLog<EmbeddedConsumer> {
    let log = this.#topics.get(topic);
    if (!log) {
      log = new TopicLog<EmbeddedConsumer>(topic);
      this.#topics.set(topic, log);
    }
    return log;
  }

  /** @internal how many raw messages from `position` the normalizer may take at once (one, for those a dead run held). */
  batchLimit(topic: string, group: string, position: number, limit: number): number {
    if (topic !== this.options.topics.raw || group !== this.options.rawGroup) return limit;
    const root = this.log(topic).at(position)?.root;
    return root !== undefined && this.#raw.careful(root) ? 1 : limit;
  }

  /** @internal called by a consumer after its handler resolved. */
  committed(group: string, topic: string, position: number, ephemeral: boolean): void {
    if (this.#dead) return;
    if (!ephemeral) this.#compacted.commit(group, this.log(topic), position);
    for (const log of this.#topics.values()) log.trim();
    this.#memory.released();
    this.#advanceCheckpoint();
  }

  /** @internal the normalizer starts on raw messages (null: it is done with them): a death meanwhile is theirs. */
  working(topic: string, group: string, messages: BusMessage[] | null): void {
    if (topic !== this.options.topics.raw || group !== this.options.rawGroup || this.#dead) return;
    this.#raw.journal.attempt(messages && messages.length > 0 ? { from: Number(messages[0]!.offset), until: Number(messages[messages.length - 1]!.offset) + 1 } : null);
  }

  /** @internal */ caughtUp(group: string, topic: string, next: number): void {
    if (!this.#dead) this.#compacted.commitSeq(group, topic, Number.isFinite(next) ? next : this.#compacted.logStart(this.log(topic)));
  }

  /** @internal a handler's context: derived messages inherit the oldest root of its batch. */
  contextFor(root: number, signal: AbortSignal, generation: number): Omit<BatchContext, 'defer'> {
    return {
      signal,
      generation,
      produce: (topic, messages) =>
        topic === this.options.topics.raw ? this.#produceRaw(messages) : this.#produceDerived(topic, messages, root, signal),
    };
  }

  async lag() {
    const out: Array<{ group: string; topic: string; partition: number; lag: number }> = [];
    for (const [topic, log] of this.#topics) {
      for (const [group, consumer] of log.groups) {
        if (consumer.ephemeral) continue;
        // Compacted topics count in sequence numbers: a catch-up from the store is lag too.
        const lag = this.#compacted.has(topic) ? this.#compacted.lag(group, topic) : log.end - consumer.committedOf(topic);
        out.push({ group, topic, partition: 0, lag });
      }
    }
    return out;
  }

  async close(): Promise<void> {
    this.#closed = true;
    this.#advanceCheckpoint();
    await this.#raw.journal.close();
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
    await Promise.all([this.#raw.journal.abandon(), this.#compacted.abandon()]);
  }

  /** @internal */ forget(consumer: EmbeddedConsumer): void {
    this.#consumers.delete(consumer);
    for (const log of this.#topics.values()) if (log.groups.get(consumer.group) === consumer && consumer.ephemeral) log.groups.delete(consumer.group);
  }

  /** The journal may forget webhooks below the oldest root any group still has to process. */
  #advanceCheckpoint(): void {
    if (!this.#started || this.#dead) return;
    const raw = this.log(this.options.topics.raw);
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
    this.#raw.journal.checkpoint(low, raw.at(normalizer.committedOf(raw.name))?.root ?? this.#rawAppended);
  }
}
