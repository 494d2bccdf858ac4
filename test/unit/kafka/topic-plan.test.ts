import { topicPlan } from '../../../src/bus/kafka/topic-plan';
import { topicNames } from '../../../src/bus/topics';

describe('mistbridge topics: the topic plan (CONTRACT section 4)', () => {
  const plan = topicPlan(topicNames('acme.mist.'), { partitions: 12, replicationFactor: 3, rawRetentionMs: 7 * 86400_000 }, 5242880);
  const config = (topic: string): Record<string, string> =>
    Object.fromEntries(plan.find((t) => t.topic === topic)!.configEntries.map((e) => [e.name, e.value]));

  it('creates the topics under the prefix with the configured partitions and replication', () => {
    expect(plan.map((t) => t.topic)).toEqual(['acme.mist.raw', 'acme.mist.events', 'acme.mist.incidents', 'acme.mist.recoveries', 'acme.mist.inventory', 'acme.mist.backfill', 'acme.mist.redrive', 'acme.mist.dlq']);
    expect(plan.every((t) => t.numPartitions === 12 && t.replicationFactor === 3)).toBe(true);
  });

  it('keeps raw webhooks for the retention period and compacts incidents', () => {
    expect(config('acme.mist.raw')['retention.ms']).toBe(String(7 * 86400_000));
    expect(config('acme.mist.incidents')['cleanup.policy']).toBe('compact');
    expect(config('acme.mist.incidents')).not.toHaveProperty('retention.ms');
    expect(config('acme.mist.recoveries')['cleanup.policy']).toBe('compact');
    expect(config('acme.mist.inventory')['cleanup.policy']).toBe('compact');
    expect(config('acme.mist.backfill')['cleanup.policy']).toBe('compact');
    // Redriven records of compacted topics: never compacted state themselves, kept a day.
    expect(config('acme.mist.redrive')['cleanup.policy']).toBeUndefined();
    expect(config('acme.mist.redrive')['retention.ms']).toBe(String(86400_000));
  });

  it('sizes max.message.bytes so that a MAX_BODY_BYTES webhook and its dead letter fit (Kafka defaults to 1 MB)', () => {
    const raw = Number(config('acme.mist.raw')['max.message.bytes']);
    const dlq = Number(config('acme.mist.dlq')['max.message.bytes']);
    expect(raw).toBeGreaterThan(5242880);
    expect(raw).toBeLessThan(5242880 + 128 * 1024);
    // A letter carries the body in base64 (4/3 of it) and a few hundred bytes of fields.
    expect(dlq).toBeGreaterThan(Math.ceil(5242880 / 3) * 4 + 2048);
    expect(Number(config('acme.mist.events')['max.message.bytes'])).toBeGreaterThan(raw);
    const larger = topicPlan(topicNames(''), { partitions: 1, replicationFactor: 1, rawRetentionMs: 1 }, 10 * 1024 * 1024);
    expect(Number(larger.find((t) => t.topic === 'raw')!.configEntries.find((e) => e.name === 'max.message.bytes')!.value)).toBeGreaterThan(10 * 1024 * 1024);
  });

  it('asks for two in-sync replicas where there are three, one where there is one', () => {
    expect(config('acme.mist.raw')['min.insync.replicas']).toBe('2');
    expect(plan.map((t) => t.topic)).not.toContain('acme.mist.ocsf'); // only with KAFKA_OCSF
    const withOcsf = topicPlan(topicNames('acme.mist.'), { partitions: 12, replicationFactor: 3, rawRetentionMs: 7 * 86400_000, ocsf: true }, 5242880);
    expect(withOcsf.find((t) => t.topic === 'acme.mist.ocsf')).toMatchObject({ numPartitions: 12, configEntries: expect.arrayContaining([{ name: 'retention.ms', value: String(7 * 86400_000) }]) });
    const single = topicPlan(topicNames('mist.'), { partitions: 1, replicationFactor: 1, rawRetentionMs: 1 }, 1024);
    expect(single.every((t) => t.configEntries.find((e) => e.name === 'min.insync.replicas')!.value === '1')).toBe(true);
  });
});
