import { join } from 'node:path';
import type { BusMessage, OutgoingMessage } from '../bus';
import { CompactedStore } from './compacted-store';
import type { LogReader, TopicLog } from './topic-log';

/** Entries of compacted topics are durable themselves: they never hold the raw journal back. */
export const NO_ROOT = Number.MAX_SAFE_INTEGER;

/**
 * The compacted topics of the embedded bus (incidents, recoveries, inventory, back-fill marks):
 * each a CompactedStore on disk (the latest value per key, and every group's committed sequence
 * number) mirrored by the topic's in-memory log, which groups read like any other topic.
 */
export class CompactedTopics {
  readonly #stores = new Map<string, CompactedStore>();
  /**
   * Per topic: the sequence number after the last record appended to its log. A group caught up
   * to the end commits this, never the store's next number: that one also counts appends still in
   * flight, which the group has not seen.
   */
  readonly #seen = new Map<string, number>();

  /** Loads every store into its log (throws what the file system said: the caller names DATA_DIR). */
  constructor(dataDir: string, topics: readonly string[], log: (topic: string) => TopicLog<LogReader>) {
    for (const topic of topics) {
      const store = new CompactedStore(join(dataDir, 'topics'), topic);
      const target = log(topic);
      for (const record of store.load()) target.append({ key: record.key, value: record.value, headers: record.headers, root: NO_ROOT, bytes: record.value.length, seq: record.seq });
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
    messages.forEach((message, i) => {
      log.append({ key: message.key, value: message.value, headers: message.headers ?? {}, root: NO_ROOT, bytes: message.value?.length ?? 0, seq: seqs[i]! });
      this.#seen.set(topic, Math.max(this.#seen.get(topic) ?? 0, seqs[i]! + 1));
    });
  }

  /** The latest value of every live key, oldest write first. */
  snapshot(topic: string): BusMessage[] {
    return this.#store(topic)
      .live()
      .map((record) => ({ topic, partition: 0, offset: String(record.seq), key: record.key, value: record.value, headers: record.headers }));
  }

  /** Where `group` resumes in the topic's log: after its stored position (ephemeral readers read everything). */
  startPosition(log: TopicLog<LogReader>, group: string, ephemeral: boolean): number {
    const store = this.#stores.get(log.name);
    if (!store || ephemeral) return log.base;
    const committed = store.committed(group);
    for (let offset = log.base; offset < log.end; offset++) if ((log.at(offset)!.seq ?? 0) >= committed) return offset;
    return log.end;
  }

  /** Stores `group`'s position after it committed up to `position` in the topic's log. */
  commit(group: string, log: TopicLog<LogReader>, position: number): void {
    this.#stores.get(log.name)?.commit(group, log.at(position)?.seq ?? this.#seen.get(log.name)!);
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
