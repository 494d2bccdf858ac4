/**
 * The one messaging interface every role uses. Two implementations: the embedded in-process bus
 * (one process, raw webhooks journaled in DATA_DIR) and Kafka. Semantics are Kafka's: messages are
 * ordered per key, delivered at least once, and a consumer group's offsets move only after its
 * handler resolved, i.e. after the handler's own output was written.
 */
export interface BusMessage {
  topic: string;
  partition: number;
  offset: string;
  key: string;
  /** null = tombstone of a compacted topic. */
  value: Buffer | null;
  headers: Record<string, string>;
}

export interface OutgoingMessage {
  key: string;
  /** null = tombstone (compacted topics). */
  value: Buffer | null;
  headers?: Record<string, string>;
}

export interface BatchContext {
  /** Produces output that belongs to this batch; resolves once durable. */
  produce(topic: string, messages: OutgoingMessage[]): Promise<void>;
  /** Aborted when the consumer stops: long retries must give up and leave the batch uncommitted. */
  signal: AbortSignal;
}

export type BatchHandler = (batch: BusMessage[], context: BatchContext) => Promise<void>;

export interface ConsumeOptions {
  group: string;
  topics: string[];
  handler: BatchHandler;
  /** Deliver at most this many messages per handler call. */
  maxBatch?: number;
  /** Wait up to this long for a batch to fill before delivering a partial one. */
  lingerMs?: number;
  /** Called when the group is assigned partitions, before their messages are delivered. */
  onAssign?: (assignment: Assignment[]) => Promise<void>;
  /**
   * A private reader: starts at the oldest retained message, never commits, never shares partitions
   * (Kafka: a group of its own). For views of a whole compacted topic.
   */
  ephemeral?: boolean;
}

export interface Assignment {
  topic: string;
  partitions: number[];
}

export interface Consumer {
  readonly group: string;
  /** Connected, and (for Kafka) a member of its group. */
  ready(): boolean;
  /** Finishes the batch in hand (or abandons it uncommitted on abort), commits, leaves the group. */
  stop(): Promise<void>;
}

export type Writability = { ok: true } | { ok: false; reason: string; retryAfterS: number };

export interface Bus {
  readonly kind: 'embedded' | 'kafka';
  /** Starts the bus; the embedded bus replays journaled webhooks here, after the consumers registered. */
  start(): Promise<void>;
  /**
   * Resolves once every message is durable (fsynced journal, or acknowledged by all in-sync
   * replicas). With `timeoutMs`, rejects with BusUnavailableError once that has passed and makes
   * the bus unwritable until the write is answered; the write may still land (a retry then
   * carries the same event ids).
   */
  produce(topic: string, messages: OutgoingMessage[], options?: { timeoutMs?: number }): Promise<void>;
  consume(options: ConsumeOptions): Promise<Consumer>;
  /** The latest value of every key retained in a compacted topic (optionally only some partitions), oldest first. */
  snapshot(topic: string, partitions?: number[]): Promise<BusMessage[]>;
  /** The partition a key is produced to in `topic`. */
  partitionOf(topic: string): Promise<(key: string) => number>;
  /** Whether a write would be accepted now; the ingress answers 503 when not. */
  writable(): Writability;
  /** Per group/topic/partition: messages not yet committed. */
  lag(): Promise<Array<{ group: string; topic: string; partition: number; lag: number }>>;
  close(): Promise<void>;
}

export class BusUnavailableError extends Error {
  constructor(
    message: string,
    readonly retryAfterS = 5,
  ) {
    super(message);
    this.name = 'BusUnavailableError';
  }
}

/** `work`, or a BusUnavailableError once `ms` have passed, after calling `onLate`; the work itself goes on. */
export function withDeadline<T>(work: Promise<T>, ms: number, onLate: () => void = () => undefined): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      onLate();
      reject(new BusUnavailableError(`no answer within ${ms} ms`));
    }, ms);
  });
  return Promise.race([work, deadline]).finally(() => clearTimeout(timer));
}
