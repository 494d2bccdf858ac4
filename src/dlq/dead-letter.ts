import type { BusMessage, OutgoingMessage } from '../bus/bus';

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
