import { topicPlan } from '../../../src/bus/kafka/topic-plan';
import { topicNames } from '../../../src/bus/topics';

describe('mistbridge topics: the topic plan (CONTRACT section 4)', () => {
  const plan = topicPlan(topicNames('acme.mist.'), { partitions: 12, replicationFactor: 3, rawRetentionMs: 7 * 86400_000 });
  const config = (topic: string): Record<string, string> =>
    Object.fromEntries(plan.find((t) => t.topic === topic)!.configEntries.map((e) => [e.name, e.value]));

  it('creates the four topics under the prefix with the configured partitions and replication', () => {
    expect(plan.map((t) => t.topic)).toEqual(['acme.mist.raw', 'acme.mist.events', 'acme.mist.incidents', 'acme.mist.dlq']);
    expect(plan.every((t) => t.numPartitions === 12 && t.replicationFactor === 3)).toBe(true);
  });

  it('keeps raw webhooks for the retention period and compacts incidents', () => {
    expect(config('acme.mist.raw')['retention.ms']).toBe(String(7 * 86400_000));
    expect(config('acme.mist.incidents')['cleanup.policy']).toBe('compact');
    expect(config('acme.mist.incidents')).not.toHaveProperty('retention.ms');
  });

  it('asks for two in-sync replicas where there are three, one where there is one', () => {
    expect(config('acme.mist.raw')['min.insync.replicas']).toBe('2');
    const single = topicPlan(topicNames('mist.'), { partitions: 1, replicationFactor: 1, rawRetentionMs: 1 });
    expect(single.every((t) => t.configEntries.find((e) => e.name === 'min.insync.replicas')!.value === '1')).toBe(true);
  });
});
