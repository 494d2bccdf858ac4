import { randomUUID } from 'node:crypto';
import type { Consumer as KafkaConsumer, Kafka } from 'kafkajs';
import type { KafkaConfig } from '../../config/config';
import { sleep } from '../../shared/backoff';
import { chunks } from '../../shared/chunks';
import type { Logger } from '../../shared/logger';
import type { ConsumeOptions, Consumer, OutgoingMessage } from '../bus';
import { AssignmentGate, chunkRunner, type ChunkRunner } from '../consumer-core';
import { patientRoundRobin } from './assigner';
import { toBusMessage } from './errors';

const PARTITION_CONCURRENCY = 4;
/** How long a fetch of a group without a linger waits for data (20 idle fetches a second at most). */
const IDLE_FETCH_WAIT_MS = 50;

/** What a consumer needs of the Kafka bus. */
export interface KafkaConsumerHost {
  produce(topic: string, messages: OutgoingMessage[]): Promise<void>;
  forget(consumer: KafkaBusConsumer): void;
}

/**
 * One group on Kafka: batches per partition (side by side), chunked and handed to the chunk
 * runner, offsets resolved only after the handler, committed by kafkajs' auto-commit of resolved
 * offsets; assignments gated on the role's state rebuild; fatal kafkajs crashes restarted.
 */
export class KafkaBusConsumer implements Consumer {
  readonly group: string;
  readonly topics: string[];
  readonly ephemeral: boolean;
  readonly #consumer: KafkaConsumer;
  readonly #abort = new AbortController();
  readonly #gate = new AssignmentGate();
  readonly #runner: ChunkRunner;
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
    this.#runner = chunkRunner({ group: this.group, handler: options.handler, logger, signal: this.#abort.signal, stage: options.stage, onRedriven: options.onRedriven });
    this.#consumer = kafka.consumer({
      groupId: this.group,
      sessionTimeout: config.sessionTimeoutMs,
      rebalanceTimeout: config.sessionTimeoutMs,
      heartbeatInterval: 1000,
      partitionAssigners: [patientRoundRobin],
      // Latency and memory both: a fetch answers as soon as one record is there (minBytes 1); an
      // idle one waits at most the group's linger, else IDLE_FETCH_WAIT_MS (a broker that holds an
      // idle fetch for the whole wait, as the test broker does, adds it to every stage's latency);
      // a fetch holds at most 1 MiB per partition and 10 MiB in all (a larger record batch still
      // comes whole: brokers always return the first).
      maxWaitTimeInMs: Math.max(10, Math.min(options.lingerMs ?? IDLE_FETCH_WAIT_MS, 5000)),
      minBytes: 1,
      maxBytesPerPartition: 1024 * 1024,
      maxBytes: 10 * 1024 * 1024,
      allowAutoTopicCreation: false,
    });
    const events = this.#consumer.events;
    this.#consumer.on(events.GROUP_JOIN, ({ payload }) => {
      const assignment = Object.entries(payload.memberAssignment).map(([topic, partitions]) => ({ topic, partitions }));
      this.logger.info('partitions assigned', { group: this.group, assignment });
      // Messages of the new assignment wait until its state is rebuilt (correlator, metrics). Only
      // the latest generation's failure counts: it leaves the consumer unready and rejoins, so that
      // the next assignment retries; an older rebuild's outcome changes nothing.
      void this.#gate.assign(
        async (generation) => {
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
    this.#consumer.on(events.REBALANCING, () => this.#gate.revoke());
    this.#consumer.on(events.CRASH, ({ payload }) => {
      this.#gate.revoke();
      this.#member = false;
      this.logger.error('consumer crashed', { group: this.group, error: payload.error.message, restartedByKafkajs: payload.restart });
      if (!payload.restart) void this.#restart();
    });
    this.#consumer.on(events.STOP, () => {
      this.#gate.revoke();
      this.#member = false;
    });
  }

  async start(): Promise<void> {
    await this.#consumer.connect();
    await this.#consumer.subscribe({ topics: this.topics, fromBeginning: true });
    const maxBatch = this.options.maxBatch ?? 500;
    const signal = this.#abort.signal;
    await this.#consumer.run({
      // Only offsets resolved after the handler succeeded are ever committed; committing them once a
      // second (or every 500) instead of per batch costs redelivery after a crash, never loss.
      autoCommit: !this.ephemeral,
      autoCommitInterval: 1000,
      autoCommitThreshold: 500,
      eachBatchAutoResolve: false,
      // Partitions are independent (ordering is per partition), so their batches run side by side.
      partitionsConsumedConcurrently: PARTITION_CONCURRENCY,
      // Never throws except to hand the partition back: a failing chunk is retried by the consumer
      // core, and a rebalance leaves the batch uncommitted for the partition's next owner.
      eachBatch: async ({ batch, resolveOffset, heartbeat, commitOffsetsIfNecessary, isRunning, isStale }) => {
        const generation = this.#gate.generation;
        // Rebuilding state at assignment can outlast the session timeout: keep the membership alive.
        while (this.#gate.rebuilding() && this.#gate.generation === generation && !signal.aborted) {
          await this.#gate.settled(1000);
          if (this.#gate.rebuilding() && !(await stillMember(heartbeat))) return;
        }
        // No state for it (a failed rebuild, a rebalance): it stays uncommitted for the next owner or generation.
        if (!this.#gate.ready() || this.#gate.generation !== generation) return;
        const stillOwner = async (): Promise<boolean> =>
          isRunning() && !isStale() && !signal.aborted && this.#gate.generation === generation && (await stillMember(heartbeat));
        const context = { produce: (topic: string, out: OutgoingMessage[]) => this.host.produce(topic, out), signal, generation };
        const messages = batch.messages.map((m) => toBusMessage(batch.topic, batch.partition, m));
        for (const chunk of chunks(messages, (m) => m.value?.length ?? 0, maxBatch, this.options.maxBatchBytes)) {
          if (!(await this.#runner.run(chunk, context, { topic: batch.topic, partition: batch.partition, stillOwner }))) return;
          resolveOffset(chunk[chunk.length - 1]!.offset);
          if (!this.ephemeral) {
            try {
              await commitOffsetsIfNecessary();
            } catch (err) {
              this.logger.warn('offset commit refused (rebalance); the batch goes to the next owner uncommitted', { group: this.group, error: (err as Error).message });
              return;
            }
          }
        }
      },
    });
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

  async stop(): Promise<void> {
    this.#abort.abort();
    await this.#consumer.disconnect();
    this.host.forget(this);
  }
}

/** Heartbeats; false when the group is rebalancing and this member must let go of its batch. */
async function stillMember(heartbeat: () => Promise<void>): Promise<boolean> {
  try {
    await heartbeat();
    return true;
  } catch {
    return false;
  }
}
