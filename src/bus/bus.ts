import { PermanentError, RetryableError } from '../shared/retry';

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

/**
 * A record of a compacted topic written as state only (a counter-only incident version, CONTRACT
 * section 10): outputs skip it, and a later record of the same key supersedes it for every reader
 * (the embedded bus drops a superseded one from memory at once).
 */
export const OUTPUT_HEADER = 'mistbridge-output';
export const QUIET = 'quiet';

export function isQuiet(headers: Record<string, string> | undefined): boolean {
  return headers?.[OUTPUT_HEADER] === QUIET;
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
  /** The assignment this batch was fetched under (see AssignmentGate): state of another generation must not take it. */
  generation: number;
  /**
   * The batch's work goes on after the handler returns (a group window): its offsets are committed
   * only once `effect` resolved, and in order with every other batch. A rejected effect makes the
   * consumer rebuild its assignment from the last commit.
   */
  defer(effect: Promise<unknown>): void;
}

export type BatchHandler = (batch: BusMessage[], context: BatchContext) => Promise<void>;

export interface ConsumeOptions {
  group: string;
  topics: string[];
  handler: BatchHandler;
  /**
   * The stage this consumer is (`normalizer`, `splunk`, …): a redriven message (header
   * `mistbridge-redrive`) reaches only the consumer of the stage that dead-lettered it; the others
   * pass it over (commit it unhandled), so no other group counts it twice.
   */
  stage?: string;
  /** Notify: the destination this group delivers to; a redriven notify message reaches only its destination's group. */
  destination?: string;
  /** Called with the number of redriven messages of this stage each handled chunk held. */
  onRedriven?: (count: number) => void;
  /** Deliver at most this many messages per handler call. */
  maxBatch?: number;
  /** ...and at most this many bytes of values (a batch holds at least one message). */
  maxBatchBytes?: number;
  /** Wait up to this long for a batch to fill before delivering a partial one. */
  lingerMs?: number;
  /**
   * Called when the group is assigned partitions, before their messages are delivered; batches
   * carry the same generation. A newer assignment may begin before an older rebuild ended.
   */
  onAssign?: (assignment: Assignment[], generation: number) => Promise<void>;
  /**
   * A private reader: starts at the oldest retained message, never commits, never shares partitions
   * (Kafka: a group of its own). For views of a whole compacted topic.
   */
  ephemeral?: boolean;
  /**
   * A group that has never committed starts at the end of each partition (as of its first
   * assignment, committed at once) instead of the oldest retained message: new destinations and
   * routes never replay history.
   */
  fromEnd?: boolean;
}

export interface Assignment {
  topic: string;
  partitions: number[];
}

export interface Consumer {
  readonly group: string;
  /** Connected, and (for Kafka) a member of its group. */
  ready(): boolean;
  /** The generation of the assignment whose state is rebuilt and current, or null (rebalancing, stopped). */
  assigned(): number | null;
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
  /**
   * Per partition, the offset of the first message `group` has not committed in `topic` (in the
   * offset space of the topic's messages and snapshots), or null when it never committed there.
   */
  committedOffsets(group: string, topic: string): Promise<Map<number, string | null>>;
  /** Per group/topic/partition: messages not yet committed. */
  lag(): Promise<Array<{ group: string; topic: string; partition: number; lag: number }>>;
  close(): Promise<void>;
}

/** The bus cannot take writes now (broker down, disk full or slow): retry later; the ingress answers 503. */
export class BusUnavailableError extends RetryableError {
  constructor(
    message: string,
    readonly retryAfterS = 5,
    options?: { cause?: unknown },
  ) {
    super(message, retryAfterS * 1000, options);
    this.name = 'BusUnavailableError';
  }
}

/** The broker refuses this message as too large: permanent for the request (413), not a sign of an unhealthy bus. */
export class MessageTooLargeError extends PermanentError {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, 'too_large', options);
    this.name = 'MessageTooLargeError';
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
