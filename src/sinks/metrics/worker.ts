import type { Consumer, OutgoingMessage } from '../../bus/bus';
import { Projection } from '../../bus/projection';
import { GROUPS } from '../../bus/topics';
import { lettersFor, sendDeadLetters } from '../../dlq/dead-letter';
import { sourceTopic } from '../../dlq/letters';
import { decodeOrDeadLetter, decodeSnapshot } from '../../domain/decode';
import { incidentCodec } from '../../domain/incident';
import { eventCodec } from '../../domain/mist-event';
import { canonicalTopic } from '../../domain/topic';
import { KNOWN_TOPICS, KNOWN_TYPES } from '../../normalizer/catalogue';
import { LabelLimiter } from '../../shared/label-limiter';
import type { RoleDeps } from '../../shared/role-deps';
import { DeviceInfo } from './device-info';
import { IncidentGauges } from './incident-gauges';
import { DeviceUp } from './device-state';
import { decodeInventory } from '../../domain/inventory';

export type MetricsSinkDeps = RoleDeps;

/**
 * mist.events → `mistbridge_events_total`, `mistbridge_event_delay_seconds` (bounded labels),
 * `mistbridge_device_info`;
 * mist.incidents and mist.inventory → incident and device gauges: a projection of the assigned
 * partitions, rebuilt from the compacted topics at every assignment (the series of partitions
 * this replica no longer owns go with it) and fenced by its generation.
 */
export async function startMetricsSink(deps: MetricsSinkDeps): Promise<Consumer> {
  const family = deps.metrics.events!;
  const events = eventCodec();
  const incidents = incidentCodec();
  const states = new DeviceUp(family.deviceUp);
  const gauges = new IncidentGauges(family, states);
  const devices = new DeviceInfo(family.deviceInfo);
  const projection = new Projection(() => {
    gauges.reset();
    states.reset();
    devices.resetInventory();
  });
  const inventoried = (key: string, value: Buffer | null): void => {
    const record = decodeInventory(value);
    if (record?.kind !== 'device') {
      if (!value && key.startsWith('device:')) states.remove(key.slice(key.lastIndexOf(':') + 1), true);
      return;
    }
    devices.fromInventory(record);
    if (record.status) states.set({ device_mac: record.mac, device_type: record.type ?? 'unknown', site_id: record.site_id ?? '' }, record.status === 'connected', record.status_at ?? 0, true);
  };
  const topicLabel = new LabelLimiter(KNOWN_TOPICS, deps.config.metrics.labelLimit);
  const typeLabel = new LabelLimiter(KNOWN_TYPES, deps.config.metrics.labelLimit);
  const letter = lettersFor(deps, 'metrics');

  return deps.bus.consume({
    group: GROUPS.metrics,
    stage: 'metrics',
    onRedriven: (count) => deps.metrics.dlqRedriven?.inc({ stage: 'metrics' }, count),
    topics: [deps.topics.events, deps.topics.incidents, deps.topics.inventory, deps.topics.redrive],
    maxBatch: 1000,
    onAssign: (assignment, generation) =>
      projection.rebuild(generation, async () => {
        const owned = (topic: string): number[] => assignment.find((a) => a.topic === topic)?.partitions ?? [];
        const [incidentState, inventoryState] = await Promise.all([deps.bus.snapshot(deps.topics.incidents, owned(deps.topics.incidents)), deps.bus.snapshot(deps.topics.inventory, owned(deps.topics.inventory))]);
        for (const { message, value } of decodeSnapshot(incidents, incidentState, deps.logger, deps.topics.incidents)) gauges.apply(message.key, value, false);
        // The inventoried devices of this replica's partitions (CONTRACT section 4).
        for (const message of inventoryState) inventoried(message.key, message.value);
      }),
    handler: (batch, context) =>
      projection.apply(context.generation, async () => {
        const dead: OutgoingMessage[] = [];
        for (const message of batch) {
          const topic = sourceTopic(message);
          if (topic === deps.topics.inventory) {
            inventoried(message.key, message.value);
            continue;
          }
          if (topic === deps.topics.incidents) {
            if (message.value === null) gauges.apply(message.key, null, true);
            else {
              const incident = decodeOrDeadLetter(incidents, { ...message, value: message.value }, dead, letter);
              if (incident) gauges.apply(message.key, incident, true);
            }
            continue;
          }
          const event = message.value && decodeOrDeadLetter(events, { ...message, value: message.value }, dead, letter);
          if (!event) continue;
          const label = topicLabel.value(canonicalTopic(event.topic));
          family.total.inc({ topic: label, type: typeLabel.value(event.type), severity: event.severity });
          devices.observe(event);
          // An event that carried no usable time has no delay to report.
          // Back-filled events (attributes.source = api) arrived late by design: not a delay of Mist's.
          if (event.time_source !== 'received' && event.attributes.source !== 'api') family.delay.observe({ topic: label }, Math.max(0, event.received_at - event.timestamp) / 1000);
        }
        await sendDeadLetters(context.produce, deps, 'metrics', dead);
      }),
  });
}
