import type { BatchContext, BusMessage, OutgoingMessage } from '../bus/bus';
import type { RoleDeps } from '../shared/role-deps';

export type Stage = 'normalizer' | 'splunk' | 'correlator' | 'metrics';

/** CONTRACT section 4: `{stage, reason, error, topic, partition, offset, value_base64}`, keyed as its input. */
export function deadLetter(stage: Stage, reason: string, error: string, source: BusMessage, value: Buffer = source.value ?? Buffer.alloc(0)): OutgoingMessage {
  const record = {
    stage,
    reason,
    error,
    topic: source.topic,
    partition: source.partition,
    offset: source.offset,
    value_base64: value.toString('base64'),
  };
  return { key: source.key, value: Buffer.from(JSON.stringify(record)), headers: { stage, reason } };
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
