import type { KafkaConfig } from '../../config/config';
import type { Topics } from '../topics';

export interface TopicSpec {
  topic: string;
  numPartitions: number;
  replicationFactor: number;
  configEntries: Array<{ name: string; value: string }>;
}

/**
 * What `mistbridge topics` creates (CONTRACT section 4). Incidents are compacted, with small
 * segments so compaction runs, and tombstones kept a day for slow readers.
 */
export function topicPlan(topics: Topics, kafka: Pick<KafkaConfig, 'partitions' | 'replicationFactor' | 'rawRetentionMs'>): TopicSpec[] {
  const base = { numPartitions: kafka.partitions, replicationFactor: kafka.replicationFactor };
  const minIsr = String(Math.max(1, Math.min(2, kafka.replicationFactor - 1)));
  return [
    { topic: topics.raw, ...base, configEntries: [{ name: 'retention.ms', value: String(kafka.rawRetentionMs) }, { name: 'min.insync.replicas', value: minIsr }] },
    { topic: topics.events, ...base, configEntries: [{ name: 'retention.ms', value: String(kafka.rawRetentionMs) }, { name: 'min.insync.replicas', value: minIsr }] },
    {
      topic: topics.incidents,
      ...base,
      configEntries: [
        { name: 'cleanup.policy', value: 'compact' },
        { name: 'segment.ms', value: String(3600_000) },
        { name: 'min.compaction.lag.ms', value: String(3600_000) },
        { name: 'delete.retention.ms', value: String(86400_000) },
        { name: 'min.insync.replicas', value: minIsr },
      ],
    },
    { topic: topics.dlq, ...base, configEntries: [{ name: 'retention.ms', value: String(30 * 86400_000) }, { name: 'min.insync.replicas', value: minIsr }] },
  ];
}
