import type { Consumer, OutgoingMessage } from '../../bus/bus';
import { GROUPS } from '../../bus/topics';
import { lettersFor, sendDeadLetters } from '../../dlq/dead-letter';
import { decodeOrDeadLetter } from '../../domain/decode';
import { incidentCodec } from '../../domain/incident';
import { eventCodec } from '../../domain/mist-event';
import { canonicalTopic } from '../../domain/topic';
import { KNOWN_TOPICS, KNOWN_TYPES } from '../../normalizer/catalogue';
import { SCHEMA_HEADER } from '../../shared/avro';
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
 * mist.incidents → incident and device gauges, starting from the compacted state at assignment.
 */
export async function startMetricsSink(deps: MetricsSinkDeps): Promise<Consumer> {
  const family = deps.metrics.events!;
  const events = eventCodec();
  const incidents = incidentCodec();
  const states = new DeviceUp(family.deviceUp);
  const gauges = new IncidentGauges(family, states);
  const devices = new DeviceInfo(family.deviceInfo);
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
    topics: [deps.topics.events, deps.topics.incidents, deps.topics.inventory],
    maxBatch: 1000,
    onAssign: async (assignment) => {
      const partitions = assignment.find((a) => a.topic === deps.topics.incidents)?.partitions ?? [];
      gauges.reset();
      for (const message of await deps.bus.snapshot(deps.topics.incidents, partitions)) {
        if (message.value) gauges.apply(message.key, incidents.decode(message.value, message.headers[SCHEMA_HEADER]), false);
      }
      // The inventoried devices of this replica's partitions (CONTRACT section 4).
      const inventoryPartitions = assignment.find((a) => a.topic === deps.topics.inventory)?.partitions ?? [];
      for (const message of await deps.bus.snapshot(deps.topics.inventory, inventoryPartitions)) inventoried(message.key, message.value);
    },
    handler: async (batch, context) => {
      const dead: OutgoingMessage[] = [];
      for (const message of batch) {
        if (message.topic === deps.topics.inventory) {
          inventoried(message.key, message.value);
          continue;
        }
        if (message.topic === deps.topics.incidents) {
          if (message.value === null) gauges.apply(message.key, null, true);
          else {
            const incident = decodeOrDeadLetter(incidents, { ...message, value: message.value }, dead, letter);
            if (incident) gauges.apply(message.key, incident, true);
          }
          continue;
        }
        const event = message.value && decodeOrDeadLetter(events, { ...message, value: message.value }, dead, letter);
        if (!event) continue;
        const topic = topicLabel.value(canonicalTopic(event.topic));
        family.total.inc({ topic, type: typeLabel.value(event.type), severity: event.severity });
        devices.observe(event);
        // An event that carried no usable time has no delay to report.
        // Back-filled events (attributes.source = api) arrived late by design: not a delay of Mist's.
        if (event.time_source !== 'received' && event.attributes.source !== 'api') family.delay.observe({ topic }, Math.max(0, event.received_at - event.timestamp) / 1000);
      }
      await sendDeadLetters(context.produce, deps, 'metrics', dead);
    },
  });
}
