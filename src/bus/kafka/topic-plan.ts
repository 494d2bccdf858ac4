import type { KafkaConfig } from '../../config/config';
import type { Topics } from '../topics';

export interface TopicSpec {
  topic: string;
  numPartitions: number;
  replicationFactor: number;
  configEntries: Array<{ name: string; value: string }>;
}

/** Room for a record's key, headers and batch framing on top of its value. */
const RECORD_OVERHEAD_BYTES = 64 * 1024;

/**
 * What `mistbridge topics` creates (CONTRACT section 4). Compacted topics (incidents, the
 * correlator's recoveries) get small segments so compaction runs, and tombstones kept a day for
 * slow readers. `max.message.bytes` fits a MAX_BODY_BYTES webhook on the raw topic, its dead
 * letter (base64, a third larger) on the DLQ, and a normalized event of such a body on the events
 * topic: Kafka's default of 1 MB would refuse a valid webhook.
 */
export function topicPlan(
  topics: Topics,
  kafka: Pick<KafkaConfig, 'partitions' | 'replicationFactor' | 'rawRetentionMs'> & { ocsf?: boolean },
  maxBodyBytes: number,
): TopicSpec[] {
  const base = { numPartitions: kafka.partitions, replicationFactor: kafka.replicationFactor };
  const minIsr = { name: 'min.insync.replicas', value: String(Math.max(1, Math.min(2, kafka.replicationFactor - 1))) };
  const maxMessage = (bytes: number) => ({ name: 'max.message.bytes', value: String(Math.ceil(bytes) + RECORD_OVERHEAD_BYTES) });
  const retention = (ms: number) => ({ name: 'retention.ms', value: String(ms) });
  const compacted = [
    { name: 'cleanup.policy', value: 'compact' },
    { name: 'segment.ms', value: String(3600_000) },
    { name: 'min.compaction.lag.ms', value: String(3600_000) },
    { name: 'delete.retention.ms', value: String(86400_000) },
    minIsr,
  ];
  return [
    { topic: topics.raw, ...base, configEntries: [retention(kafka.rawRetentionMs), minIsr, maxMessage(maxBodyBytes)] },
    { topic: topics.events, ...base, configEntries: [retention(kafka.rawRetentionMs), minIsr, maxMessage(2 * maxBodyBytes)] },
    { topic: topics.incidents, ...base, configEntries: compacted },
    { topic: topics.recoveries, ...base, configEntries: compacted },
    { topic: topics.inventory, ...base, configEntries: compacted },
    { topic: topics.backfill, ...base, configEntries: compacted },
    { topic: topics.redrive, ...base, configEntries: [retention(86400_000), minIsr, maxMessage(2 * maxBodyBytes)] },
    { topic: topics.dlq, ...base, configEntries: [retention(30 * 86400_000), minIsr, maxMessage((maxBodyBytes * 4) / 3)] },
    ...(kafka.ocsf ? [{ topic: topics.ocsf, ...base, configEntries: [retention(kafka.rawRetentionMs), minIsr, maxMessage(2 * maxBodyBytes)] }] : []),
  ];
}
