import type { Bus, Consumer } from '../../bus/bus';
import { GROUPS, type Topics } from '../../bus/topics';
import type { Config } from '../../config/config';
import { deadLetter } from '../../dlq/dead-letter';
import { KNOWN_TOPICS, KNOWN_TYPES } from '../../normalizer/catalogue';
import { eventCodec } from '../../normalizer/worker';
import { SCHEMA_HEADER } from '../../shared/avro';
import { LabelLimiter } from '../../shared/label-limiter';
import type { Logger } from '../../shared/logger';
import type { Metrics } from '../../shared/metrics';

export interface MetricsSinkDeps {
  bus: Bus;
  topics: Topics;
  config: Config;
  metrics: Metrics;
  logger: Logger;
}

/** mist.events → `mistbridge_events_total` and `mistbridge_event_delay_seconds`, with bounded labels. */
export async function startMetricsSink(deps: MetricsSinkDeps): Promise<Consumer> {
  const family = deps.metrics.events!;
  const codec = eventCodec();
  const topicLabel = new LabelLimiter(KNOWN_TOPICS, deps.config.metrics.labelLimit);
  const typeLabel = new LabelLimiter(KNOWN_TYPES, deps.config.metrics.labelLimit);

  return deps.bus.consume({
    group: GROUPS.metrics,
    topics: [deps.topics.events],
    maxBatch: 1000,
    handler: async (batch, context) => {
      const dead = [];
      for (const message of batch) {
        let event;
        try {
          event = codec.decode(message.value, message.headers[SCHEMA_HEADER]);
        } catch (err) {
          dead.push(deadLetter('metrics', 'schema_mismatch', (err as Error).message, message));
          continue;
        }
        const topic = topicLabel.value(event.topic);
        family.total.inc({ topic, type: typeLabel.value(event.type), severity: event.severity });
        // An event that carried no usable time has no delay to report.
        if (event.time_source !== 'received') family.delay.observe({ topic }, Math.max(0, event.received_at - event.timestamp) / 1000);
      }
      if (dead.length > 0) {
        await context.produce(deps.topics.dlq, dead);
        deps.metrics.dlq?.inc({ stage: 'metrics', reason: 'schema_mismatch' }, dead.length);
      }
    },
  });
}
