import { join } from 'node:path';
import { isQuiet, type BusMessage, type OutgoingMessage } from '../bus';
import { CompactedStore, type LoggedRecord } from './compacted-store';
import type { Entry, LogReader, TopicLog } from './topic-log';

/** Entries of compacted topics are durable themselves: they never hold the raw journal back. */
export const NO_ROOT = Number.MAX_SAFE_INTEGER;

/**
 * The compacted topics of the embedded bus (incidents, recoveries, inventory, back-fill marks):
 * each a CompactedStore on disk (the latest value per key, and every group's committed sequence
 * number). The topic's in-memory log holds only what was appended during this run and not yet
 * committed by every group; what came before (the store, as loaded) is read from the store, never
 * copied into the log. One offset space: a message's offset is its sequence number, in the log,
 * in a snapshot and in a group's committed position alike.
 */
export class CompactedTopics {
  readonly #stores = new Map<string, CompactedStore>();
  /**
   * Per topic: the sequence number after the last record appended to its log. A group caught up
   * to the end commits this, never the store's next number: that one also counts appends still in
   * flight, which the group has not seen.
   */
  readonly #seen = new Map<string, number>();
  /** Per topic and key: its last record in the log, when that one was quiet (a later record supersedes it). */
  readonly #quiet = new Map<string, Map<string, Entry>>();

  /** Loads every store (throws what the file system said: the caller names DATA_DIR). */
  constructor(dataDir: string, topics: readonly string[]) {
    for (const topic of topics) {
      const store = new CompactedStore(join(dataDir, 'topics'), topic);
      store.load();
      this.#stores.set(topic, store);
      this.#seen.set(topic, store.nextSeq);
    }
  }

  has(topic: string): boolean {
    return this.#stores.has(topic);
  }

  /** Appends durably (fsync), then to the topic's log. */
  async append(topic: string, messages: OutgoingMessage[], log: TopicLog<LogReader>): Promise<void> {
    const seqs = await this.#store(topic).append(messages.map((m) => ({ key: m.key, headers: m.headers ?? {}, value: m.value })));
    const quiet = this.#quiet.get(topic) ?? new Map<string, Entry>();
    this.#quiet.set(topic, quiet);
    messages.forEach((message, i) => {
      const entry: Entry = { key: message.key, value: message.value, headers: message.headers ?? {}, root: NO_ROOT, bytes: message.value?.length ?? 0, seq: seqs[i]! };
      // A quiet record superseded while groups still lag behind it (Splunk down) is no use to any
      // of them: with thousands of updates per device, keeping each would be most of the memory.
      const superseded = quiet.get(message.key);
      if (superseded && log.at(log.base) !== undefined && superseded.seq! >= log.at(log.base)!.seq!) log.drop(superseded);
      if (isQuiet(entry.headers)) quiet.set(message.key, entry);
      else quiet.delete(message.key);
      log.append(entry);
      this.#seen.set(topic, Math.max(this.#seen.get(topic) ?? 0, seqs[i]! + 1));
    });
    if (log.entries.length === 0) quiet.clear();
  }

  /** The latest value of every live key, oldest write first. */
  snapshot(topic: string): BusMessage[] {
    return this.#store(topic)
      .live()
      .map((record) => asMessage(topic, record));
  }

  /**
   * Where `group` starts in the topic: the records before the log's first entry it has not
   * committed (from the store: the latest of each key and the superseded ones it had yet to read),
   * then the log from `position`. An ephemeral reader starts with every live record. A group the store has
   * never seen starts at the end when `fromEnd`, and that position is committed at once.
   */
  start(log: TopicLog<LogReader>, group: string, options: { ephemeral: boolean; fromEnd: boolean }): { catchUp: BusMessage[]; position: number } {
    const started = this.#start(log, group, options);
    // Nothing to catch up on below the log (tombstoned or superseded records): committed up to it now.
    if (!options.ephemeral && started.catchUp.length === 0) this.commitSeq(group, log.name, this.logStart(log));
    return started;
  }

  /** The sequence number the topic's log starts at (what the store alone holds lies below it). */
  logStart(log: TopicLog<LogReader>): number {
    return log.at(log.base)?.seq ?? this.#seen.get(log.name)!;
  }

  #start(log: TopicLog<LogReader>, group: string, options: { ephemeral: boolean; fromEnd: boolean }): { catchUp: BusMessage[]; position: number } {
    const store = this.#store(log.name);
    const firstInLog = this.logStart(log);
    if (options.ephemeral) return { catchUp: this.snapshot(log.name).filter((m) => Number(m.offset) < firstInLog), position: log.base };
    if (options.fromEnd && !store.knows(group)) {
      store.commit(group, this.#seen.get(log.name)!);
      return { catchUp: [], position: log.end };
    }
    const committed = store.committed(group);
    const catchUp = store
      .since(committed)
      .filter((r) => r.seq < firstInLog)
      .map((r) => asMessage(log.name, r));
    let position = log.base;
    while (position < log.end && (log.at(position)!.seq ?? 0) < committed) position++;
    return { catchUp, position };
  }

  /** Stores `group`'s position: everything below sequence number `next` is committed. */
  commitSeq(group: string, topic: string, next: number): void {
    this.#stores.get(topic)?.commit(group, next);
  }

  /** Stores `group`'s position after it committed up to `position` in the topic's log. */
  commit(group: string, log: TopicLog<LogReader>, position: number): void {
    this.commitSeq(group, log.name, log.at(position)?.seq ?? this.#seen.get(log.name)!);
  }

  /** The first sequence number `group` has not committed. */
  committed(group: string, topic: string): number {
    return this.#store(topic).committed(group);
  }

  /** Sequence numbers appended that `group` has not committed. */
  lag(group: string, topic: string): number {
    return Math.max(0, this.#seen.get(topic)! - this.#store(topic).committed(group));
  }

  knows(group: string, topic: string): boolean {
    return this.#store(topic).knows(group);
  }

  async abandon(): Promise<void> {
    await Promise.all([...this.#stores.values()].map((s) => s.abandon()));
  }

  #store(topic: string): CompactedStore {
    const store = this.#stores.get(topic);
    if (!store) throw new Error(`${topic} is not a compacted topic`);
    return store;
  }
}

function asMessage(topic: string, record: LoggedRecord): BusMessage {
  return { topic, partition: 0, offset: String(record.seq), key: record.key, value: record.value, headers: record.headers };
}
