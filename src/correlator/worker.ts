import type { BusMessage, Consumer, OutgoingMessage } from '../bus/bus';
import { GROUPS } from '../bus/topics';
import { deadLetter, sendDeadLetters } from '../dlq/dead-letter';
import type { MistEvent } from '../normalizer/mist-event';
import { eventCodec } from '../normalizer/worker';
import { SCHEMA_HEADER } from '../shared/avro';
import type { RoleDeps } from '../shared/role-deps';
import { incidentCodec } from './codec';
import type { Incident } from './incident';
import { reduce, sweep } from './reducer';
import { buildRules } from './rules';

export interface CorrelatorDeps extends RoleDeps {
  now?: () => number;
}

export interface CorrelatorHandle extends Consumer {
  /** Every incident held, all partitions: what the API serves. */
  view(): Iterable<Incident>;
}

/** At least every 30 s (CONTRACT section 6); more often when the window itself is shorter. */
const SWEEP_INTERVAL_MS = 30_000;

/**
 * mist.events → reducer → mist.incidents. The state of the assigned partitions is rebuilt from the
 * compacted incidents topic on assignment, before any event is applied; writes reach the state only
 * after the bus made them durable, so a failed batch is redelivered against unchanged state.
 */
export async function startCorrelator(deps: CorrelatorDeps): Promise<CorrelatorHandle> {
  const { bus, topics, config, logger } = deps;
  const now = deps.now ?? Date.now;
  const rules = buildRules(config.correlation.rules, config.correlation.securityQuietWindowMs, config.correlation.retentionMs);
  const events = eventCodec();
  const incidents = incidentCodec();
  const state = new Map<string, Incident>();
  // The view keeps the encoded bytes (which, on the embedded bus, are the very buffers the store
  // holds) and decodes on request: the API is read rarely, and decoded copies of every incident
  // would double the correlator's memory.
  const view = new Map<string, BusMessage>();
  let queue: Promise<unknown> = Promise.resolve();
  // The timer and the consumer both change `state`: one at a time.
  const serial = <T>(work: () => Promise<T>): Promise<T> => {
    const next = queue.then(work, work);
    queue = next.catch(() => undefined);
    return next;
  };
  const encode = (incident: Incident): OutgoingMessage => ({
    key: incident.key,
    value: incidents.encode(incident),
    headers: { [SCHEMA_HEADER]: incidents.fingerprint },
  });

  // Not tied to a batch of events: the writes go straight to the bus.
  const runSweep = (): Promise<void> =>
    serial(async () => {
      const { writes, tombstones } = sweep(state.values(), now(), rules);
      if (writes.length === 0 && tombstones.length === 0) return;
      await bus.produce(topics.incidents, [...writes.map(encode), ...tombstones.map((key) => ({ key, value: null }))]);
      for (const write of writes) state.set(write.key, write);
      for (const key of tombstones) state.delete(key);
      logger.info('incident sweep', { resolved: writes.length, forgotten: tombstones.length });
    });

  const consumer = await bus.consume({
    group: GROUPS.correlator,
    topics: [topics.events],
    maxBatch: 500,
    onAssign: async (assignment) => {
      // Every event of an incident comes from one site, so one events partition owns the incident.
      const owned = new Set(assignment.find((a) => a.topic === topics.events)?.partitions ?? []);
      const partitionOf = await bus.partitionOf(topics.events);
      state.clear();
      for (const message of await bus.snapshot(topics.incidents)) {
        if (!message.value) continue;
        const incident = incidents.decode(message.value, message.headers[SCHEMA_HEADER]);
        if (owned.has(partitionOf(incident.site_id ?? incident.org_id ?? 'alarms'))) state.set(message.key, incident);
      }
      logger.info('incident state rebuilt', { incidents: state.size, partitions: [...owned] });
      await runSweep();
    },
    handler: (batch, context) =>
      serial(async () => {
        const staged = new Map<string, Incident>();
        const writes: Incident[] = [];
        const dead: OutgoingMessage[] = [];
        for (const message of batch) {
          const event = decodeEvent(message, dead);
          if (!event) continue;
          for (const write of reduce((key) => staged.get(key) ?? state.get(key), event, rules)) {
            staged.set(write.key, write);
            writes.push(write);
          }
        }
        if (writes.length > 0) await context.produce(topics.incidents, writes.map(encode));
        await sendDeadLetters(context.produce, deps, 'correlator', dead);
        for (const [key, incident] of staged) state.set(key, incident);
      }),
  });

  function decodeEvent(message: BusMessage, dead: OutgoingMessage[]): MistEvent | null {
    if (!message.value) return null;
    try {
      return events.decode(message.value, message.headers[SCHEMA_HEADER]);
    } catch (err) {
      dead.push(deadLetter('correlator', 'schema_mismatch', (err as Error).message, message));
      return null;
    }
  }

  const viewer = await bus.consume({
    group: 'mistbridge-incidents-view',
    topics: [topics.incidents],
    ephemeral: true,
    handler: async (batch) => {
      for (const message of batch) {
        if (message.value === null) view.delete(message.key);
        else {
          try {
            incidents.decode(message.value, message.headers[SCHEMA_HEADER]);
          } catch (err) {
            logger.warn('incident left out of the API: unreadable', { key: message.key, error: (err as Error).message });
            continue;
          }
          // kafkajs hands out windows into its whole fetch response: keep a copy, not the response.
          const value = message.value.buffer.byteLength > 8192 ? Buffer.from(message.value) : message.value;
          view.set(message.key, { ...message, value });
        }
      }
    },
  });

  const timer = setInterval(() => {
    runSweep().catch((err: Error) => logger.error('incident sweep failed', { error: err.message }));
  }, Math.min(SWEEP_INTERVAL_MS, Math.max(1000, Math.floor(rules.securityQuietWindowMs / 2))));
  timer.unref();

  return {
    group: consumer.group,
    ready: () => consumer.ready() && viewer.ready(),
    *view() {
      for (const message of view.values()) yield incidents.decode(message.value!, message.headers[SCHEMA_HEADER]);
    },
    async stop() {
      clearInterval(timer);
      await Promise.all([consumer.stop(), viewer.stop()]);
      await queue;
    },
  };
}
