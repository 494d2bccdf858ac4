import { hash } from 'node:crypto';
import type { BatchContext, BusMessage, OutgoingMessage } from '../bus/bus';
import type { RoleDeps } from '../shared/role-deps';
import { SCHEMA_HEADER } from '../shared/avro';
import { previousOf, sourceTopic } from './letters';

import type { DlqReason, Stage } from './reasons';

export type { Stage } from './reasons';

/** CONTRACT section 4: one dead letter as stored in `mist.dlq` / `DATA_DIR/dlq.ndjson`. */
export interface DeadLetterRecord {
  /** First 16 hex of SHA-256 of the record's other fields. */
  id: string;
  dead_lettered_at: number;
  stage: Stage;
  reason: string;
  error: string;
  topic: string;
  partition: number;
  offset: string;
  value_base64: string;
  /** The value was cut to fit the DLQ (`mistbridge topics` sizes it for a MAX_BODY_BYTES body). */
  truncated?: true;
  /** Earlier failures of the same message, when a redriven letter failed again. */
  previous?: Array<{ id: string; reason: string; error: string }>;
  /** Notify letters (0.3): the destination (route name, never its URL) that refused the message. */
  destination?: string;
  /**
   * Avro messages (0.3): the writer schema's fingerprint (header `mistbridge-schema`), so that a
   * redrive is read with the schema it was written with (another version's, in a rolling deploy).
   */
  schema?: string;
}

export interface LetterOptions {
  now: number;
  /** Values above this are cut (and marked `truncated`), so that a letter always fits its topic. */
  maxValueBytes: number;
  previous?: DeadLetterRecord['previous'];
  destination?: string;
}

/** Builds the letter for `source` (keyed as its input), with its id. */
export function deadLetter<S extends Stage>(stage: S, reason: DlqReason<S>, error: string, source: BusMessage, options: LetterOptions, value: Buffer = source.value ?? Buffer.alloc(0)): OutgoingMessage {
  const truncated = value.length > options.maxValueBytes;
  const body: Omit<DeadLetterRecord, 'id'> = {
    dead_lettered_at: options.now,
    stage,
    reason,
    error,
    topic: source.topic,
    partition: source.partition,
    offset: source.offset,
    value_base64: (truncated ? value.subarray(0, options.maxValueBytes) : value).toString('base64'),
    ...(truncated ? { truncated: true as const } : {}),
    ...(options.previous?.length ? { previous: options.previous } : {}),
    ...(options.destination ? { destination: options.destination } : {}),
    ...(source.headers[SCHEMA_HEADER] ? { schema: source.headers[SCHEMA_HEADER] } : {}),
  };
  const record: DeadLetterRecord = { id: letterId(body), ...body };
  return { key: source.key, value: Buffer.from(JSON.stringify(record)), headers: { stage, reason } };
}

/** A role's letter maker: its stage, the process clock, and the DLQ's size bound (a MAX_BODY_BYTES body). */
export function lettersFor<S extends Stage>(deps: Pick<RoleDeps, 'clock' | 'config'>, stage: S, destination?: string) {
  // A message that was redriven and fails again names its earlier letters (`previous`). A letter
  // names the topic the message came from, also when it came back through the redrive topic.
  return (reason: DlqReason<S>, error: string, source: BusMessage, value?: Buffer): OutgoingMessage =>
    deadLetter(stage, reason, error, { ...source, topic: sourceTopic(source) }, { now: deps.clock.now(), maxValueBytes: deps.config.ingress.maxBodyBytes, previous: previousOf(source.headers), destination }, value);
}

export function letterId(body: Omit<DeadLetterRecord, 'id'>): string {
  return hash('sha256', JSON.stringify(body), 'hex').slice(0, 16);
}

/**
 * Writes a batch's dead letters and, in the same place, counts and logs them (one log line per
 * batch), so the DLQ, `mistbridge_dlq_total` and the logs always agree.
 */
export async function sendDeadLetters(produce: BatchContext['produce'], deps: RoleDeps, stage: Stage, letters: OutgoingMessage[]): Promise<void> {
  if (letters.length === 0) return;
  await produce(deps.topics.dlq, letters);
  const reasons = letters.map((letter) => letter.headers?.reason ?? 'unknown');
  for (const reason of reasons) deps.metrics.dlq?.inc({ stage, reason });
  deps.logger.warn('messages dead-lettered', { stage, count: letters.length, reasons: [...new Set(reasons)] });
}
