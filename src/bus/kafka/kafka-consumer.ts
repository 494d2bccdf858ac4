import { randomUUID } from 'node:crypto';
import type { Consumer as KafkaConsumer, Kafka } from 'kafkajs';
import type { KafkaConfig } from '../../config/config';
import { sleep } from '../../shared/backoff';
import { LogThrottle } from '../../shared/log-throttle';
import type { Logger } from '../../shared/logger';
import type { ConsumeOptions, Consumer, OutgoingMessage } from '../bus';
import { AssignmentGate, CommitQueue, batchDue, chunkRunner, type ChunkRunner } from '../consumer-core';
import { patientRoundRobin } from './assigner';
import { toBusMessage } from './errors';
import { PartitionQueue } from './partition-queue';
import type { MemoryAccount } from '../../shared/memory-account';

/** How long a fetch waits for data (20 idle fetches a second at most per group). */
const FETCH_WAIT_MS = 50;
/** A partition whose queue holds this many batches' worth stops fetching until its worker catches up. */
const QUEUED_BATCHES = 2;
const MAX_QUEUED_BYTES = 8 * 1024 * 1024;

/** What a consumer needs of the Kafka bus. */
export interface KafkaConsumerHost {
  readonly memory: MemoryAccount;
  produce(topic: string, messages: OutgoingMessage[]): Promise<void>;
  committedOffsets(group: string, topic: string): Promise<Map<number, string | null>>;
  endOffsets(topic: string): Promise<Map<number, string>>;
  forget(consumer: KafkaBusConsumer): void;
}

interface Slot {
  queue: PartitionQueue;
  generation: number;
  paused: boolean;
  worker: Promise<void>;
}

/**
 * One group on Kafka, batched the way the embedded bus batches: fetches only fill a queue per
 * partition (their offsets resolved, so fetching goes on and kafkajs keeps heartbeating between
 * fetches however long a handler takes), and each partition's worker takes batches from it by the
 * consumer core's rule (full, or lingered), hands them to the chunk runner, and commits explicitly
 * once the handler's effect is done. A revoke ends the generation: workers let go, queues are
 * dropped, and whoever owns the partition next fetches from the committed offset.
 */
export class KafkaBusConsumer implements Consumer {
  readonly group: string;
  readonly topics: string[];
  readonly ephemeral: boolean;
  readonly #consumer: KafkaConsumer;
  readonly #abort = new AbortController();
  readonly #gate = new AssignmentGate();
  readonly #runner: ChunkRunner;
  readonly #slots = new Map<string, Slot>();
  readonly #throttle: LogThrottle;
  /** For /readyz: an assignment was rebuilt and nothing failed since (a rebalance in progress does not count). */
  #member = false;

  constructor(
    private readonly host: KafkaConsumerHost,
    kafka: Kafka,
    private readonly options: ConsumeOptions,
    private readonly logger: Logger,
    config: KafkaConfig,
  ) {
    this.ephemeral = options.ephemeral ?? false;
    this.group = this.ephemeral ? `${options.group}-${randomUUID()}` : options.group;
    this.topics = options.topics;
    this.#throttle = new LogThrottle(logger);
    this.#runner = chunkRunner({ group: this.group, handler: options.handler, logger, stage: options.stage, destination: options.destination, onRedriven: options.onRedriven });
    this.#consumer = kafka.consumer({
      groupId: this.group,
      sessionTimeout: config.sessionTimeoutMs,
      rebalanceTimeout: config.sessionTimeoutMs,
      heartbeatInterval: 1000,
      partitionAssigners: [patientRoundRobin],
      // Latency and memory both: a fetch answers as soon as one record is there (minBytes 1), an
      // idle one waits FETCH_WAIT_MS (a broker that holds an idle fetch for the whole wait, as the
      // test broker does, adds it to every stage's latency; batching is the queue's business); a
      // fetch holds at most 1 MiB per partition and 10 MiB in all (a larger record batch still
      // comes whole: brokers always return the first).
      maxWaitTimeInMs: FETCH_WAIT_MS,
      minBytes: 1,
      maxBytesPerPartition: 1024 * 1024,
      maxBytes: 10 * 1024 * 1024,
      allowAutoTopicCreation: false,
    });
    const events = this.#consumer.events;
    this.#consumer.on(events.GROUP_JOIN, ({ payload }) => {
      const assignment = Object.entries(payload.memberAssignment).map(([topic, partitions]) => ({ topic, partitions }));
      this.logger.info('partitions assigned', { group: this.group, assignment });
      this.#dropSlots();
      // Messages of the new assignment wait until its state is rebuilt (correlator, metrics). Only
      // the latest generation's failure counts: it leaves the consumer unready and rejoins, so that
      // the next assignment retries; an older rebuild's outcome changes nothing.
      void this.#gate.assign(
        async (generation) => {
          if (this.options.fromEnd && !this.ephemeral) await this.#startAtEnd(assignment);
          await this.options.onAssign?.(assignment, generation);
          if (generation === this.#gate.generation) this.#member = true;
        },
        (err) => {
          this.#member = false;
          this.logger.error('state rebuild at assignment failed; rejoining the group', { group: this.group, error: err.message });
          void this.#restart();
        },
      );
    });
    const revoked = (): void => {
      this.#gate.revoke();
      this.#dropSlots();
    };
    this.#consumer.on(events.REBALANCING, revoked);
    this.#consumer.on(events.CRASH, ({ payload }) => {
      revoked();
      this.#member = false;
      this.logger.error('consumer crashed', { group: this.group, error: payload.error.message, restartedByKafkajs: payload.restart });
      if (!payload.restart) void this.#restart();
    });
    this.#consumer.on(events.STOP, () => {
      revoked();
      this.#member = false;
    });
  }

  async start(): Promise<void> {
    // What fetches hold until their handler takes it is memory the process holds.
    this.host.memory.source(`fetched:${this.group}`, () => [...this.#slots.values()].reduce((n, slot) => n + slot.queue.bytes, 0));
    await this.#consumer.connect();
    await this.#consumer.subscribe({ topics: this.topics, fromBeginning: true });
    await this.#consumer.run({
      // Offsets are committed by each partition's worker after its handler's effect (#commit);
      // resolving them below only moves the fetch position.
      autoCommit: false,
      eachBatchAutoResolve: false,
      partitionsConsumedConcurrently: 4,
      eachBatch: async ({ batch, resolveOffset, isRunning, isStale }) => {
        // No state for it yet (a rebuild runs, or failed): not taken, so it is fetched again.
        if (!this.#gate.ready()) {
          await this.#gate.settled(500);
          return;
        }
        if (!isRunning() || isStale() || batch.isEmpty()) return;
        const slot = this.#slot(batch.topic, batch.partition);
        // Over the memory bound a partition with work in hand takes no more (it is fetched again
        // later); one with nothing in hand always may, so that the stages that drain never stall.
        if (slot.queue.count > 0 && this.host.memory.over()) {
          await sleep(200, this.#abort.signal).catch(() => undefined);
          return;
        }
        slot.queue.push(
          batch.messages.map((m) => toBusMessage(batch.topic, batch.partition, m)),
          performance.now(),
        );
        resolveOffset(batch.lastOffset());
        const maxBatch = this.options.maxBatch ?? 500;
        if (!slot.paused && (slot.queue.count >= QUEUED_BATCHES * maxBatch || slot.queue.bytes >= Math.min(QUEUED_BATCHES * (this.options.maxBatchBytes ?? Infinity), MAX_QUEUED_BYTES))) {
          slot.paused = true;
          this.#consumer.pause([{ topic: batch.topic, partitions: [batch.partition] }]);
        }
      },
    });
  }

  /** Partitions this group never committed on start at their end: committed there at once, and fetched from there. */
  async #startAtEnd(assignment: Array<{ topic: string; partitions: number[] }>): Promise<void> {
    for (const { topic, partitions } of assignment) {
      const committed = await this.host.committedOffsets(this.group, topic);
      const fresh = partitions.filter((p) => (committed.get(p) ?? null) === null);
      if (fresh.length === 0) continue;
      const ends = await this.host.endOffsets(topic);
      const offsets = fresh.map((partition) => ({ topic, partition, offset: ends.get(partition) ?? '0' }));
      await this.#consumer.commitOffsets(offsets);
      for (const { partition, offset } of offsets) this.#consumer.seek({ topic, partition, offset });
    }
  }

  /** The partition's queue and worker for the current generation. */
  #slot(topic: string, partition: number): Slot {
    const key = `${topic}\u0000${partition}`;
    const generation = this.#gate.generation;
    let slot = this.#slots.get(key);
    if (!slot || slot.generation !== generation) {
      const queue = new PartitionQueue();
      slot = { queue, generation, paused: false, worker: Promise.resolve() };
      slot.worker = this.#work(slot, topic, partition);
      this.#slots.set(key, slot);
    }
    return slot;
  }

  /** One partition's batches, one at a time, until the generation ends or the consumer stops. */
  async #work(slot: Slot, topic: string, partition: number): Promise<void> {
    const { queue, generation } = slot;
    const signal = AbortSignal.any([this.#abort.signal, this.#gate.signal]);
    const maxBatch = this.options.maxBatch ?? 500;
    const context = { produce: (t: string, out: OutgoingMessage[]) => this.host.produce(t, out), signal, generation };
    const commits = new CommitQueue<string>(
      (lastOffset) => (this.ephemeral ? undefined : this.#commit(topic, partition, lastOffset, generation)),
      (err) => {
        if (signal.aborted) return; // stopped or revoked: the next owner re-reads from the last commit anyway
        this.logger.error('a batch effect failed; the group rejoins and re-reads from its last commit', { group: this.group, topic, partition, error: err.message });
        void this.#restart();
      },
    );
    while (!signal.aborted) {
      const { due, waitMs } = batchDue(queue, performance.now(), { maxBatch, maxBatchBytes: this.options.maxBatchBytes, lingerMs: this.options.lingerMs });
      if (!due) {
        await queue.changed(waitMs, signal);
        continue;
      }
      const chunk = queue.take(maxBatch, this.options.maxBatchBytes);
      if (slot.paused && queue.count < maxBatch) {
        slot.paused = false;
        this.#consumer.resume([{ topic, partitions: [partition] }]);
      }
      const effects = await this.#runner.run(chunk, context, { topic, partition, stillOwner: () => !signal.aborted });
      if (!effects) break;
      await commits.add(chunk[chunk.length - 1]!.offset, effects);
    }
    // Effects already under way (a notification being sent) still commit when they are done.
    await commits.drained();
  }

  /** After the effect: a refused commit (a rebalance under way) leaves the offset for the next commit or owner. */
  async #commit(topic: string, partition: number, lastOffset: string, generation: number): Promise<void> {
    if (this.#gate.generation !== generation) return;
    try {
      await this.#consumer.commitOffsets([{ topic, partition, offset: (BigInt(lastOffset) + 1n).toString() }]);
      this.#throttle.reset('commit');
    } catch (err) {
      this.#throttle.log('warn', 'commit', 'offset commit refused; the next commit or the next owner covers it', { group: this.group, topic, partition, error: (err as Error).message });
    }
  }

  /** The generation ended: its queues go (their messages are fetched again from the committed offsets). */
  #dropSlots(): void {
    const paused = [...this.#slots.entries()].filter(([, slot]) => slot.paused);
    this.#slots.clear();
    for (const [key] of paused) {
      const [topic, partition] = key.split('\u0000');
      this.#consumer.resume([{ topic: topic!, partitions: [Number(partition)] }]);
    }
  }

  /** kafkajs gives up on errors it deems fatal; a forwarder must not, so the consumer starts over. */
  async #restart(): Promise<void> {
    if (this.#abort.signal.aborted) return;
    this.logger.warn('restarting consumer', { group: this.group });
    await sleep(1000, this.#abort.signal).catch(() => undefined);
    if (this.#abort.signal.aborted) return;
    try {
      await this.#consumer.disconnect();
      await this.start();
    } catch (err) {
      this.logger.error('consumer restart failed; trying again', { group: this.group, error: (err as Error).message });
      void this.#restart();
    }
  }

  ready(): boolean {
    return this.#member;
  }

  assigned(): number | null {
    return this.#gate.ready() ? this.#gate.generation : null;
  }

  /** Lets go of the batches in hand (uncommitted: redelivered to the next owner), then leaves the group. */
  async stop(): Promise<void> {
    this.#abort.abort();
    await Promise.allSettled([...this.#slots.values()].map((slot) => slot.worker));
    await this.#consumer.disconnect();
    this.host.memory.source(`fetched:${this.group}`, null);
    this.host.forget(this);
  }
}
