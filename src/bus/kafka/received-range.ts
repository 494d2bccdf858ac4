import { randomUUID } from 'node:crypto';
import type { Admin, Consumer, EachBatchPayload, Kafka } from 'kafkajs';
import type { BusMessage } from '../bus';
import { toBusMessage } from './errors';
import { firstReceivedAtOrAfter, type Probe } from './offset-search';

/** How long one probe, or reading without a record, may take before the read is abandoned. */
const STEP_TIMEOUT_MS = 60_000;
/**
 * Ingress replicas' clocks and produce latency let `received_at` go back a little along a
 * partition: the search starts this much earlier and a partition's read stops only this much
 * later than the window (the exact window is the caller's filter).
 */
const RECEIVED_SLACK_MS = 60_000;

/** Offsets [start, end) of one partition. */
export type Span = { start: bigint; end: bigint };

/**
 * The records of a topic received in a window, by their `received_at` header: each partition's
 * first and last offsets found by binary search (a seek and one fetch per probe: the test broker,
 * like old brokers, answers no timestamp lookup, and the header is what the ingress stamped), then
 * read forward until past the window. It is also the one reader of a whole topic (snapshots, the
 * DLQ: `whole()`, topic-reader.ts). A private group that never commits, joined at the first look;
 * the reader pauses every partition it is not looking at.
 */
export class ReceivedRangeReader {
  readonly #bounds: Map<number, { low: bigint; high: bigint }>;
  readonly #probes = new Map<number, { offset: bigint; resolve: (probe: Probe) => void }>();
  #reading: { open: Set<number>; ends: Map<number, bigint>; until: number; each: (message: BusMessage) => Promise<void>; done: () => void; fail: (err: Error) => void; stall: NodeJS.Timeout; busy: boolean } | null = null;

  #running: Promise<void> | null = null;

  private constructor(
    private readonly consumer: Consumer,
    private readonly topic: string,
    bounds: Array<{ partition: number; low: string; high: string }>,
  ) {
    this.#bounds = new Map(bounds.map((b) => [b.partition, { low: BigInt(b.low), high: BigInt(b.high) }]));
  }

  /** A reader of `topic` as it is now; it joins its group only when it first looks at a record. */
  static async open(kafka: Kafka, admin: Admin, sessionTimeoutMs: number, topic: string): Promise<ReceivedRangeReader> {
    // A short fetch wait: with every partition paused, kafkajs sleeps that long before it fetches again.
    const consumer = kafka.consumer({ groupId: `mistbridge-range-${randomUUID()}`, sessionTimeout: sessionTimeoutMs, heartbeatInterval: 1000, maxWaitTimeInMs: 10 });
    return new ReceivedRangeReader(consumer, topic, await admin.fetchTopicOffsets(topic));
  }

  #start(): Promise<void> {
    return (this.#running ??= (async () => {
      await this.consumer.connect();
      await this.consumer.subscribe({ topics: [this.topic], fromBeginning: true });
      await this.consumer.run({ autoCommit: false, eachBatch: (payload) => this.#onBatch(payload) });
    })());
  }

  /** Every record of the topic (or of some partitions) as of the opening. */
  whole(partitions?: number[]): Map<number, Span> {
    return new Map([...this.#bounds].filter(([partition]) => !partitions || partitions.includes(partition)).map(([partition, b]) => [partition, { start: b.low, end: b.high }]));
  }

  /**
   * When what is kept begins: the `received_at` of the oldest retained record of the partitions
   * that lost records to retention (their low offset is past 0); null when nothing was dropped.
   */
  async horizon(): Promise<number | null> {
    const dropped = [...this.#bounds].filter(([, b]) => b.low > 0n && b.high > b.low);
    const firsts = await Promise.all(dropped.map(([partition, b]) => this.#probe(partition, b.low)));
    return firsts.length > 0 ? Math.max(...firsts.map((p) => p.receivedAt)) : null;
  }

  /**
   * Per partition, the offsets of the records received in [from, until], widened by the slack at
   * both ends (two binary searches), and how many records that is.
   */
  async range(from: number, until: number): Promise<{ spans: Map<number, Span>; records: number }> {
    const spans = new Map<number, Span>();
    await Promise.all(
      [...this.#bounds].map(async ([partition, b]) => {
        const search = (target: number, low: bigint): Promise<bigint> => firstReceivedAtOrAfter(low, b.high, target, (offset) => this.#probe(partition, offset));
        const start = await search(from - RECEIVED_SLACK_MS, b.low);
        spans.set(partition, { start, end: await search(until + RECEIVED_SLACK_MS + 1, start) });
      }),
    );
    let records = 0;
    for (const { start, end } of spans.values()) records += Number(end - start);
    return { spans, records };
  }

  /**
   * Every record of the spans, partition by partition until one is received after `until` plus the
   * slack. `each` is awaited (its pace is the read's pace); the group is kept alive meanwhile.
   */
  async read(spans: Map<number, Span>, until: number, each: (message: BusMessage) => Promise<void>): Promise<void> {
    const open = new Set([...spans].filter(([, span]) => span.start < span.end).map(([partition]) => partition));
    if (open.size === 0) return;
    await this.#start();
    await new Promise<void>((resolve, reject) => {
      // A stall is the broker's: the time `each` takes (a destination retrying) is not counted.
      const stall = setTimeout(() => (this.#reading?.busy ? stall.refresh() : reject(new Error(`reading ${this.topic} stalled for ${STEP_TIMEOUT_MS} ms`))), STEP_TIMEOUT_MS);
      this.#reading = { open, ends: new Map([...spans].map(([partition, span]) => [partition, span.end])), until, each, stall, busy: false, done: () => (clearTimeout(stall), resolve()), fail: (err) => (clearTimeout(stall), reject(err)) };
      for (const partition of open) this.#seekTo(partition, spans.get(partition)!.start);
    }).finally(() => (this.#reading = null));
  }

  async close(): Promise<void> {
    if (this.#running) await this.consumer.disconnect();
  }

  async #onBatch({ batch, pause, heartbeat, isStale }: EachBatchPayload): Promise<void> {
    const partition = batch.partition;
    const probe = this.#probes.get(partition);
    if (probe) {
      const found = isStale() ? undefined : batch.messages.find((m) => BigInt(m.offset) >= probe.offset);
      if (!found) return; // an earlier position's batch, or the record is further on
      this.#probes.delete(partition);
      pause();
      probe.resolve({ offset: BigInt(found.offset), receivedAt: receivedAt(toBusMessage(batch.topic, partition, found)) });
      return;
    }
    const reading = this.#reading;
    if (!reading?.open.has(partition)) return void pause();
    const end = reading.ends.get(partition)!;
    // The group is kept alive while `each` takes its time (a destination retrying).
    const alive = setInterval(() => void heartbeat().catch(() => undefined), 1000);
    try {
      for (const message of batch.messages) {
        if (!reading.open.has(partition) || isStale()) break;
        const bus = toBusMessage(batch.topic, partition, message);
        const offset = BigInt(message.offset);
        if (offset >= end || receivedAt(bus) > reading.until + RECEIVED_SLACK_MS) {
          reading.open.delete(partition);
          break;
        }
        reading.busy = true;
        try {
          await reading.each(bus);
        } catch (err) {
          // The caller's failure ends the read (kafkajs would fetch the batch again and again).
          reading.open.clear();
          reading.fail(err as Error);
          break;
        } finally {
          reading.busy = false;
        }
        reading.stall.refresh();
        if (offset === end - 1n) reading.open.delete(partition);
      }
    } finally {
      clearInterval(alive);
    }
    if (!reading.open.has(partition)) pause();
    if (reading.open.size === 0) reading.done();
  }

  /** The first record at or after `offset` of a partition (which is paused again after). */
  async #probe(partition: number, offset: bigint): Promise<Probe> {
    await this.#start();
    return new Promise<Probe>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no answer from ${this.topic}[${partition}] at offset ${offset} in ${STEP_TIMEOUT_MS} ms`)), STEP_TIMEOUT_MS);
      this.#probes.set(partition, { offset, resolve: (probe) => (clearTimeout(timer), resolve(probe)) });
      this.#seekTo(partition, offset);
    });
  }

  #seekTo(partition: number, offset: bigint): void {
    this.consumer.seek({ topic: this.topic, partition, offset: offset.toString() });
    this.consumer.resume([{ topic: this.topic, partitions: [partition] }]);
  }
}

/** The ingress's stamp; a record without one counts as received before any window. */
function receivedAt(message: BusMessage): number {
  const at = Number(message.headers.received_at);
  return Number.isFinite(at) ? at : 0;
}
