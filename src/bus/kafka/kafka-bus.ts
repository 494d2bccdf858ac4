import { randomUUID } from 'node:crypto';
import { Partitioners, type Admin, type Consumer as KafkaConsumer, type Kafka, type KafkaMessage, type Producer } from 'kafkajs';
import type { Config, KafkaConfig } from '../../config/config';
import { sleep } from '../../shared/backoff';
import type { Logger } from '../../shared/logger';
import type { Topics } from '../topics';
import type { Bus, BusMessage, ConsumeOptions, Consumer, OutgoingMessage, Writability } from '../bus';
import { BusUnavailableError, MessageTooLargeError, withDeadline } from '../bus';
import { AssignmentGate, chunkRunner, chunksOf, type ChunkRunner } from '../consumer-core';
import { PermanentError } from '../../shared/retry';
import { patientRoundRobin } from './assigner';
import { createKafka } from './client';
import { Coalescer } from './coalescer';

const PROBE_INTERVAL_MS = 1000;
const SNAPSHOT_TIMEOUT_MS = 60_000;
const PARTITION_CONCURRENCY = 4;
/** How long a fetch of a group without a linger waits for data (20 idle fetches a second at most). */
const IDLE_FETCH_WAIT_MS = 50;
/** A coalesced send stays well under a broker's default request size (1 MiB messages are allowed alone). */
const COALESCE_MAX_BYTES = 4 * 1024 * 1024;

/**
 * The bus over a Kafka cluster (kafkajs). Produce waits for all in-sync replicas (`acks: -1`);
 * consumers commit a batch's offsets only after their handler resolved; a failing broker makes the
 * bus unwritable until a metadata probe succeeds again, so the ingress sheds with 503 meanwhile.
 */
export class KafkaBus implements Bus {
  readonly kind = 'kafka' as const;
  readonly #kafka: Kafka;
  readonly #producer: Producer;
  readonly #admin: Admin;
  readonly #consumers = new Set<KafkaBusConsumer>();
  readonly #partitionCounts = new Map<string, number>();
  readonly #coalescers = new Map<string, Coalescer<OutgoingMessage>>();
  #healthy = false;
  #inFlightBytes = 0;
  #lastError = 'not connected yet';
  #started: Promise<void> | null = null;
  #probe: NodeJS.Timeout | null = null;
  #closed = false;

  constructor(
    private readonly config: KafkaConfig,
    private readonly topics: Topics,
    private readonly logger: Logger,
    /** Bytes of writes awaiting acknowledgement above which the bus takes no more (the ingress answers 503). */
    private readonly maxInFlightBytes = Number.POSITIVE_INFINITY,
  ) {
    this.#kafka = createKafka(config, logger);
    this.#producer = this.#kafka.producer({
      idempotent: config.idempotent,
      maxInFlightRequests: config.idempotent ? 1 : 5,
      allowAutoTopicCreation: false,
      createPartitioner: Partitioners.DefaultPartitioner,
      ...(config.idempotent ? {} : { retry: { retries: 3, initialRetryTime: 100, maxRetryTime: 2000 } }),
    });
    this.#admin = this.#kafka.admin();
  }

  /** Connects once; roles may produce before the runtime calls it (a correlator sweeping at assignment). */
  start(): Promise<void> {
    this.#started ??= (async () => {
      try {
        await this.#admin.connect();
        await this.#producer.connect();
        this.#healthy = true;
      } catch (err) {
        this.#unhealthy(err as Error);
      }
    })();
    return this.#started;
  }

  writable(): Writability {
    if (this.#closed) return { ok: false, reason: 'bus closed', retryAfterS: 5 };
    // Requests waiting for their acknowledgement are backlog too: held in memory until Kafka answers.
    if (this.#inFlightBytes >= this.maxInFlightBytes) return { ok: false, reason: 'writes awaiting acknowledgement over INGRESS_MAX_BACKLOG_BYTES', retryAfterS: 1 };
    return this.#healthy ? { ok: true } : { ok: false, reason: `Kafka unavailable: ${this.#lastError}`, retryAfterS: 5 };
  }

  async produce(topic: string, messages: OutgoingMessage[], options: { timeoutMs?: number } = {}): Promise<void> {
    // Held from the call on: the next writable() already counts these bytes.
    const bytes = messages.reduce((sum, m) => sum + (m.value?.length ?? 0), 0);
    this.#inFlightBytes += bytes;
    await this.start(); // never rejects: a failed connect marks the bus unhealthy
    const timeoutMs = options.timeoutMs ?? 30_000;
    const send = this.config.produceCoalesce ? this.#coalescerOf(topic).add(messages) : this.#send(topic, messages, timeoutMs);
    void send.finally(() => (this.#inFlightBytes -= bytes)).catch(() => undefined);
    try {
      // kafkajs keeps retrying a dead broker for longer than the caller waits; a missed deadline is
      // itself the sign that Kafka is unavailable (marked below, like any failure).
      await withDeadline(send, timeoutMs);
      this.#healthy = true;
    } catch (err) {
      throw this.#classify(err as Error);
    }
  }

  #send(topic: string, messages: OutgoingMessage[], timeoutMs = 30_000): Promise<void> {
    return this.#producer
      .send({ topic, acks: -1, timeout: timeoutMs, messages: messages.map((m) => ({ key: m.key, value: m.value, headers: m.headers })) })
      .then(() => undefined);
  }

  /**
   * One per topic: concurrent writes (many webhooks, many outputs) become one record batch per
   * partition. Only webhook writes linger: many requests arrive independently there. A pipeline
   * stage waits for its own output before it fetches more, so a linger on its topics would cap the
   * stage's rate at one batch per linger (measured: the normalizer fell behind at 1,000 events/s);
   * its outputs coalesce only while a send is in flight.
   */
  #coalescerOf(topic: string): Coalescer<OutgoingMessage> {
    let coalescer = this.#coalescers.get(topic);
    if (!coalescer) {
      coalescer = new Coalescer<OutgoingMessage>({
        send: (messages) => this.#send(topic, messages),
        lingerMs: topic === this.topics.raw ? this.config.produceLingerMs : 0,
        maxBytes: COALESCE_MAX_BYTES,
        size: (m) => (m.value?.length ?? 0) + m.key.length,
        splits: (err) => causes(err as Error).some((e) => TOO_LARGE.has(String((e as { type?: unknown }).type))),
      });
      this.#coalescers.set(topic, coalescer);
    }
    return coalescer;
  }

  /**
   * What a failed send means, from kafkajs' own `retriable` flag: a message too large is this
   * request's problem (the ingress answers 413; the bus stays healthy); any other refusal the
   * broker will repeat (authorization, unknown topic) is permanent and makes the bus unavailable
   * until a probe succeeds; everything else is retryable unavailability.
   */
  #classify(err: Error): Error {
    const chain = causes(err);
    if (chain.some((e) => TOO_LARGE.has(String((e as { type?: unknown }).type)))) {
      return new MessageTooLargeError(`Kafka refused the message as too large: ${err.message}`, { cause: err });
    }
    this.#unhealthy(err);
    const root = chain[chain.length - 1]!;
    if ((root as { retriable?: unknown }).retriable === false && root.name !== 'KafkaJSNumberOfRetriesExceeded') {
      return new PermanentError(`Kafka refused the write: ${root.message}`, 'kafka_refused', { cause: err });
    }
    return new BusUnavailableError(`Kafka did not acknowledge: ${err.message}`, 5, { cause: err });
  }

  async consume(options: ConsumeOptions): Promise<Consumer> {
    const consumer = new KafkaBusConsumer(this, this.#kafka, options, this.logger, this.config);
    this.#consumers.add(consumer);
    await consumer.start();
    return consumer;
  }

  async snapshot(topic: string, partitions?: number[]): Promise<BusMessage[]> {
    const latest = new Map<string, BusMessage | null>();
    await this.readToEnd(topic, (message) => void latest.set(message.key, message.value === null ? null : message), partitions);
    for (const [key, message] of latest) if (message === null) latest.delete(key);
    return [...latest.values()] as BusMessage[];
  }

  /** Every message of `topic` (optionally some partitions) from the oldest retained up to the end offsets of now. */
  async readToEnd(topic: string, each: (message: BusMessage) => void, partitions?: number[]): Promise<void> {
    await this.start();
    const offsets = await this.#admin.fetchTopicOffsets(topic);
    const pending = new Map(
      offsets
        .filter((p) => (!partitions || partitions.includes(p.partition)) && BigInt(p.high) > BigInt(p.low))
        .map((p) => [p.partition, BigInt(p.high) - 1n]),
    );
    if (pending.size === 0) return;
    const reader = this.#kafka.consumer({ groupId: `mistbridge-snapshot-${randomUUID()}`, sessionTimeout: this.config.sessionTimeoutMs, heartbeatInterval: 1000 });
    await reader.connect();
    try {
      await reader.subscribe({ topics: [topic], fromBeginning: true });
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`reading ${topic} did not complete in ${SNAPSHOT_TIMEOUT_MS} ms`)), SNAPSHOT_TIMEOUT_MS);
        void reader.run({
          eachBatch: async ({ batch }) => {
            const last = pending.get(batch.partition);
            if (last === undefined) return;
            for (const message of batch.messages) {
              if (BigInt(message.offset) > last) break;
              each(toBusMessage(batch.topic, batch.partition, message));
              if (BigInt(message.offset) === last) pending.delete(batch.partition);
            }
            if (pending.size === 0) {
              clearTimeout(timer);
              resolve();
            }
          },
        });
      });
    } finally {
      await reader.disconnect();
    }
  }

  /** Kafka's default (murmur2) partition of `key` in `topic`, as the producer chooses it. */
  async partitionOf(topic: string): Promise<(key: string) => number> {
    let count = this.#partitionCounts.get(topic);
    if (count === undefined) {
      await this.start();
      const metadata = await this.#admin.fetchTopicMetadata({ topics: [topic] });
      count = metadata.topics[0]!.partitions.length;
      this.#partitionCounts.set(topic, count);
    }
    const partitioner = Partitioners.DefaultPartitioner();
    const partitionMetadata = Array.from({ length: count }, (_, partitionId) => ({ partitionId, leader: 0, replicas: [], isr: [], partitionErrorCode: 0 }));
    return (key) => partitioner({ topic, partitionMetadata, message: { key, value: null } });
  }

  async lag() {
    const out: Array<{ group: string; topic: string; partition: number; lag: number }> = [];
    for (const consumer of this.#consumers) {
      if (consumer.ephemeral) continue;
      for (const topic of consumer.topics) {
        try {
          const [high, committed] = await Promise.all([
            this.#admin.fetchTopicOffsets(topic),
            this.#admin.fetchOffsets({ groupId: consumer.group, topics: [topic] }),
          ]);
          const done = new Map(committed[0]?.partitions.map((p) => [p.partition, BigInt(p.offset)]) ?? []);
          for (const p of high) {
            const position = done.get(p.partition) ?? -1n;
            const start = position >= 0n ? position : BigInt(p.low);
            out.push({ group: consumer.group, topic, partition: p.partition, lag: Number(BigInt(p.high) - start) });
          }
        } catch (err) {
          this.logger.debug('consumer lag not available', { group: consumer.group, topic, error: (err as Error).message });
        }
      }
    }
    return out;
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#probe) clearInterval(this.#probe);
    await Promise.allSettled([this.#producer.disconnect(), this.#admin.disconnect()]);
  }

  /** @internal */ forget(consumer: KafkaBusConsumer): void {
    this.#consumers.delete(consumer);
  }

  #unhealthy(err: Error): void {
    if (this.#healthy) this.logger.error('Kafka unavailable; the ingress answers 503 until it is back', { error: err.message });
    this.#healthy = false;
    this.#lastError = err.message;
    if (this.#probe || this.#closed) return;
    this.#probe = setInterval(() => {
      this.#admin
        .fetchTopicMetadata({ topics: [this.topics.raw] })
        .then(() => this.#producer.connect())
        .then(() => {
          if (this.#probe) clearInterval(this.#probe);
          this.#probe = null;
          this.#healthy = true;
          this.logger.info('Kafka available again');
        })
        .catch((probeError: Error) => {
          this.#lastError = probeError.message;
        });
    }, PROBE_INTERVAL_MS);
    this.#probe.unref();
  }
}

class KafkaBusConsumer implements Consumer {
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
    private readonly bus: KafkaBus,
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
        const context = { produce: (topic: string, out: OutgoingMessage[]) => this.bus.produce(topic, out), signal, generation };
        const messages = batch.messages.map((m) => toBusMessage(batch.topic, batch.partition, m));
        for (const chunk of chunksOf(messages, maxBatch, this.options.maxBatchBytes)) {
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
    this.bus.forget(this);
  }
}

const TOO_LARGE = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);

/** An error and what it wraps (kafkajs wraps protocol errors in retry errors: `cause`, `originalError`). */
function causes(err: Error): Error[] {
  const chain: Error[] = [];
  for (let e: unknown = err; e instanceof Error && chain.length < 10 && !chain.includes(e); ) {
    chain.push(e);
    e = (e as { originalError?: unknown }).originalError ?? e.cause;
  }
  return chain;
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

function toBusMessage(topic: string, partition: number, message: KafkaMessage): BusMessage {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? String(value[0]) : String(value);
  }
  return { topic, partition, offset: message.offset, key: message.key?.toString('utf8') ?? '', value: message.value, headers };
}

export function createKafkaBus(config: Config, topics: Topics, logger: Logger): KafkaBus {
  return new KafkaBus(config.kafka!, topics, logger, config.ingress.maxBacklogBytes);
}
