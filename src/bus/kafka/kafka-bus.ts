import { Partitioners, type Admin, type Kafka, type Producer } from 'kafkajs';
import type { Config, KafkaConfig } from '../../config/config';
import type { Logger } from '../../shared/logger';
import type { Topics } from '../topics';
import type { Bus, BusMessage, ConsumeOptions, Consumer, OutgoingMessage, Writability } from '../bus';
import { MessageTooLargeError, withDeadline } from '../bus';
import { createKafka } from './client';
import { Coalescer } from './coalescer';
import { classifySendError, isTooLarge } from './errors';
import { KafkaBusConsumer, type KafkaConsumerHost } from './kafka-consumer';
import { ReceivedRangeReader } from './received-range';
import { readToEnd } from './topic-reader';
import { MemoryAccount } from '../../shared/memory-account';

const PROBE_INTERVAL_MS = 1000;
/** How long a scrape waits for fresh consumer lag before it answers with the last reading. */
const LAG_DEADLINE_MS = 2000;

type Lag = { group: string; topic: string; partition: number; lag: number };
/** A coalesced send stays well under a broker's default request size (1 MiB messages are allowed alone). */
const COALESCE_MAX_BYTES = 4 * 1024 * 1024;

/**
 * The bus over a Kafka cluster (kafkajs). Produce waits for all in-sync replicas (`acks: -1`);
 * consumers (KafkaBusConsumer) commit a batch's offsets only after their handler resolved; a
 * failing broker makes the bus unwritable until a metadata probe succeeds again, so the ingress
 * sheds with 503 meanwhile.
 */
export class KafkaBus implements Bus, KafkaConsumerHost {
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
  #lastLag: Lag[] = [];
  #lagReading: Promise<Lag[]> | null = null;

  constructor(
    private readonly config: KafkaConfig,
    private readonly topics: Topics,
    private readonly logger: Logger,
    /** Bytes of writes awaiting acknowledgement above which the bus takes no more (the ingress answers 503). */
    private readonly maxInFlightBytes = Number.POSITIVE_INFINITY,
    /** The process's reservations: writes in flight and fetched batches are charged to it. */
    readonly memory: MemoryAccount = new MemoryAccount(Number.POSITIVE_INFINITY, null),
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
    const memory = this.memory.over();
    if (memory) return { ok: false, reason: memory, retryAfterS: 2 };
    return this.#healthy ? { ok: true } : { ok: false, reason: `Kafka unavailable: ${this.#lastError}`, retryAfterS: 5 };
  }

  async produce(topic: string, messages: OutgoingMessage[], options: { timeoutMs?: number } = {}): Promise<void> {
    // Held from the call on: the next writable() already counts these bytes.
    const bytes = messages.reduce((sum, m) => sum + (m.value?.length ?? 0), 0);
    this.#inFlightBytes += bytes;
    const release = this.memory.hold('delivery', bytes);
    await this.start(); // never rejects: a failed connect marks the bus unhealthy
    const timeoutMs = options.timeoutMs ?? 30_000;
    const send = this.config.produceCoalesce ? this.#coalescerOf(topic).add(messages) : this.#send(topic, messages, timeoutMs);
    void send
      .finally(() => {
        this.#inFlightBytes -= bytes;
        release();
      })
      .catch(() => undefined);
    try {
      // kafkajs keeps retrying a dead broker for longer than the caller waits; a missed deadline is
      // itself the sign that Kafka is unavailable (marked below, like any failure).
      await withDeadline(send, timeoutMs);
      this.#healthy = true;
    } catch (err) {
      const classified = classifySendError(err as Error);
      if (!(classified instanceof MessageTooLargeError)) this.#unhealthy(err as Error);
      throw classified;
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
        splits: isTooLarge,
      });
      this.#coalescers.set(topic, coalescer);
    }
    return coalescer;
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
    await readToEnd(this.#kafka, this.#admin, this.config.sessionTimeoutMs, topic, each, partitions);
  }

  /** A reader of `topic` by the time its records were received (`mistbridge redeliver`). */
  async receivedRange(topic: string): Promise<ReceivedRangeReader> {
    await this.start();
    return ReceivedRangeReader.open(this.#kafka, this.#admin, this.config.sessionTimeoutMs, topic);
  }

  async committedOffsets(group: string, topic: string): Promise<Map<number, string | null>> {
    await this.start();
    const [committed] = await this.#admin.fetchOffsets({ groupId: group, topics: [topic] });
    return new Map((committed?.partitions ?? []).map((p) => [p.partition, BigInt(p.offset) >= 0n ? p.offset : null]));
  }

  async endOffsets(topic: string): Promise<Map<number, string>> {
    await this.start();
    return new Map((await this.#admin.fetchTopicOffsets(topic)).map((p) => [p.partition, p.high]));
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

  /**
   * Per-group lag from the brokers' offsets. A scrape waits at most LAG_DEADLINE_MS for a fresh
   * reading (a slow broker must not hang every /metrics) and otherwise answers with the last one.
   */
  async lag(): Promise<Lag[]> {
    this.#lagReading ??= this.#readLag().then(
      (lag) => {
        this.#lastLag = lag;
        return lag;
      },
      () => this.#lastLag,
    ).finally(() => (this.#lagReading = null));
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<Lag[]>((resolve) => (timer = setTimeout(() => resolve(this.#lastLag), LAG_DEADLINE_MS)));
    return Promise.race([this.#lagReading, late]).finally(() => clearTimeout(timer));
  }

  async #readLag(): Promise<Lag[]> {
    const out: Lag[] = [];
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

export function createKafkaBus(config: Config, topics: Topics, logger: Logger, memory?: MemoryAccount): KafkaBus {
  return new KafkaBus(config.kafka!, topics, logger, config.ingress.maxBacklogBytes, memory);
}
