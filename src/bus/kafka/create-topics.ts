import type { Config } from '../../config/config';
import type { Logger } from '../../shared/logger';
import { topicNames } from '../topics';
import { createKafka } from './client';
import { topicPlan } from './topic-plan';

/** `mistbridge topics`: creates what the plan names and is missing; existing topics are left as they are. */
export async function createTopics(config: Config, logger: Logger): Promise<Array<{ topic: string; created: boolean }>> {
  const admin = createKafka(config.kafka!, logger).admin();
  await admin.connect();
  try {
    const existing = new Set(await admin.listTopics());
    const plan = topicPlan(topicNames(config.topicPrefix), config.kafka!, config.ingress.maxBodyBytes);
    const missing = plan.filter((spec) => !existing.has(spec.topic));
    if (missing.length > 0) await admin.createTopics({ topics: missing, waitForLeaders: true });
    return plan.map((spec) => ({ topic: spec.topic, created: !existing.has(spec.topic) }));
  } finally {
    await admin.disconnect();
  }
}
