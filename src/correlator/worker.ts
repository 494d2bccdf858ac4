import { OUTPUT_HEADER, QUIET, isQuiet, type BusMessage, type Consumer, type OutgoingMessage } from '../bus/bus';
import { GROUPS } from '../bus/topics';
import { lettersFor, sendDeadLetters } from '../dlq/dead-letter';
import { decodeOrDeadLetter, decodeSnapshot } from '../domain/decode';
import { eventCodec } from '../domain/mist-event';
import { SCHEMA_HEADER } from '../shared/avro';
import type { RoleDeps } from '../shared/role-deps';
import { incidentCodec, recoveryCodec, type Incident, type Recovery } from '../domain/incident';
import { IncidentState } from './incident-state';
import { reconcile, reduce, sweep } from './reducer';
import { InventoryNames, type InventoryDevice } from '../domain/inventory';
import type { IncidentView } from './api';
import { buildRules } from './rules';
import { coalesceCounters, outputOf } from './output';

export type CorrelatorDeps = RoleDeps;

export interface CorrelatorHandle extends Consumer, IncidentView {
  /** Runs the sweep now (it also runs at assignment and every SWEEP_INTERVAL_MS of the clock). */
  sweep(): Promise<void>;
  /** Publishes now the versions written quiet whose INCIDENT_UPDATE_MIN_S passed (a timer does it too). */
  flush(): Promise<void>;
}

/** At least every 30 s (CONTRACT section 6); more often when the window itself is shorter. */
const SWEEP_INTERVAL_MS = 30_000;

/**
 * mist.events → reducer → mist.incidents (+ mist.recoveries). The state of the assigned partitions
 * is rebuilt from the compacted topics on assignment, before any event is applied; writes reach the
 * state only after the bus made them durable, so a failed batch is redelivered against unchanged
 * state. One owner (IncidentState) serializes the rebuild, the batches and the sweep.
 */
export async function startCorrelator(deps: CorrelatorDeps): Promise<CorrelatorHandle> {
  const { bus, topics, config, logger, clock } = deps;
  const rules = buildRules(config.correlation.rules, config.correlation.securityQuietWindowMs, config.correlation.retentionMs);
  const events = eventCodec();
  const incidents = incidentCodec();
  const recoveries = recoveryCodec();
  const letter = lettersFor(deps, 'correlator');
  const state = new IncidentState();
  // The view keeps the encoded bytes (which, on the embedded bus, are the very buffers the store
  // holds) and decodes on request: the API is read rarely, and decoded copies of every incident
  // would double the correlator's memory.
  const view = new Map<string, BusMessage>();
  // Device names as events carry them (incidents do not): for /api/devices.
  const names = new Map<string, string>();
  // The Mist API companion's inventory (all of it): names, devices no incident names, and the
  // status reconciliation acts on for the devices of this replica's partitions.
  const inventory = new InventoryNames();
  let mine: (record: { site_id: string | null; org_id: string | null }) => boolean = () => false;
  const updateMinMs = config.correlation.updateMinMs;
  /**
   * Incident writes with their output decision (CONTRACT section 10): counter-only versions within
   * INCIDENT_UPDATE_MIN_S of the last published one are written quiet (state only); `force`
   * publishes every write (the flush, a shutdown).
   */
  const encodeIncidents = (writes: Incident[], force = false): OutgoingMessage[] =>
    writes.map((incident) => {
      const quiet = !force && outputOf(incident, state.published.get(incident.key), clock.now(), updateMinMs) === 'quiet';
      return { key: incident.key, value: incidents.encode(incident), headers: { [SCHEMA_HEADER]: incidents.fingerprint, ...(quiet ? { [OUTPUT_HEADER]: QUIET } : {}) } };
    });
  /** After the writes are durable: what was published, and what waits for the flush. */
  const noteOutput = (messages: OutgoingMessage[], writes: Incident[]): void =>
    writes.forEach((incident, i) => {
      if (isQuiet(messages[i]!.headers ?? {})) state.pending.add(incident.key);
      else {
        state.pending.delete(incident.key);
        state.published.set(incident.key, { incident, at: clock.now() });
      }
    });
  /** Writes of the sweep, reconciliation and the flush: state-changing, produced directly. */
  const writeIncidents = async (writes: Incident[], tombstones: string[] = [], force = false): Promise<void> => {
    const messages = encodeIncidents(writes, force);
    if (messages.length + tombstones.length > 0) await bus.produce(topics.incidents, [...messages, ...tombstones.map((key) => ({ key, value: null }))]);
    noteOutput(messages, writes);
    for (const key of tombstones) {
      state.pending.delete(key);
      state.published.delete(key);
    }
  };
  /** Publishes the latest version of keys written quiet, once their interval passed (all of them with `all`). */
  const flushWork = async (all = false): Promise<void> => {
    const due = [...state.pending].filter((key) => all || (state.published.get(key)?.at ?? -Infinity) + updateMinMs <= clock.now());
    const latest = due.flatMap((key) => state.incidents.get(key) ?? []);
    for (const key of due) if (!state.incidents.has(key)) state.pending.delete(key);
    if (latest.length > 0) await writeIncidents(latest, [], true);
  };
  const encodeRecovery = (recovery: Recovery): OutgoingMessage => ({ key: recovery.key, value: recoveries.encode(recovery) });

  // Not tied to a batch of events: its writes are state only (compacted topics), produced directly.
  const sweepWork = async (): Promise<void> => {
    const { writes, tombstones, forgotten } = sweep(state.incidents.values(), clock.now(), rules, state.recoveries.values());
    await writeIncidents(writes, tombstones);
    if (forgotten.length > 0) await bus.produce(topics.recoveries, forgotten.map((key) => ({ key, value: null })));
    state.commit(writes, [], tombstones, forgotten);
    for (const incident of writes) deps.tail?.publish({ kind: 'incident', incident });
    if (writes.length + tombstones.length + forgotten.length > 0) logger.info('incident sweep', { resolved: writes.length, forgotten: tombstones.length, recoveriesForgotten: forgotten.length });
  };

  // Like the sweep, not tied to a batch of events: produced directly, committed to state after.
  const reconcileWork = async (devices: InventoryDevice[]): Promise<void> => {
    const writes = devices.filter(mine).flatMap((device) => reconcile(state, device).incidents);
    if (writes.length === 0) return;
    await writeIncidents(writes);
    state.commit(writes, []);
    for (const incident of writes) deps.tail?.publish({ kind: 'incident', incident });
    logger.info('incidents reconciled with the Mist API device status', { resolved: writes.filter((w) => w.state === 'resolved').length, opened: writes.filter((w) => w.state === 'open').length });
  };

  const consumerStart = bus.consume({
    group: GROUPS.correlator,
    stage: 'correlator',
    onRedriven: (count) => deps.metrics.dlqRedriven?.inc({ stage: 'correlator' }, count),
    topics: [topics.events],
    maxBatch: 500,
    onAssign: async (assignment, generation) => {
      // Every event of an incident comes from one site, so one events partition owns the incident.
      const owned = new Set(assignment.find((a) => a.topic === topics.events)?.partitions ?? []);
      const partitionOf = await bus.partitionOf(topics.events);
      mine = (record) => owned.has(partitionOf(record.site_id ?? record.org_id ?? 'alarms'));
      await state.rebuild(generation, async () => {
        const [incidentMessages, recoveryMessages] = await Promise.all([bus.snapshot(topics.incidents), bus.snapshot(topics.recoveries)]);
        const loaded = decodeSnapshot(incidents, incidentMessages, logger, topics.incidents).filter((r) => mine(r.value));
        const remembered = recoveryMessages.flatMap((m) => (m.value ? [recoveries.decode(m.value)] : []));
        state.commit(
          loaded.map((r) => r.value),
          remembered.filter(mine),
        );
        // A latest version written quiet was never published: the flush publishes it (also what
        // a revoked or crashed owner left pending).
        for (const { message } of loaded) if (isQuiet(message.headers)) state.pending.add(message.key);
        logger.info('incident state rebuilt', { incidents: state.incidents.size, recoveries: state.recoveries.size, partitions: [...owned], generation });
      });
      await state.ifCurrent(generation, sweepWork);
      await state.ifCurrent(generation, () => reconcileWork([...inventory.devices()]));
    },
    handler: (batch, context) =>
      state.apply(context.generation, async () => {
        const staged = { incidents: new Map<string, Incident>(), recoveries: new Map<string, Recovery>() };
        const stagedView = {
          incident: (key: string) => staged.incidents.get(key) ?? state.incident(key),
          recovery: (key: string) => staged.recoveries.get(key) ?? state.recovery(key),
        };
        const incidentWrites: Incident[] = [];
        const recoveryWrites: Recovery[] = [];
        const dead: OutgoingMessage[] = [];
        for (const message of batch) {
          const event = message.value && decodeOrDeadLetter(events, { ...message, value: message.value }, dead, letter);
          if (!event) continue;
          for (const device of event.devices) if (device.name) names.set(device.mac, device.name);
          const reduced = reduce(stagedView, event, rules);
          for (const write of reduced.incidents) {
            staged.incidents.set(write.key, write);
            incidentWrites.push(write);
          }
          for (const write of reduced.recoveries) {
            staged.recoveries.set(write.key, write);
            recoveryWrites.push(write);
          }
        }
        // Coalescing within a batch is free: a counter-only update replaces the version before it.
        const coalesced = coalesceCounters(incidentWrites);
        const messages = encodeIncidents(coalesced);
        if (messages.length > 0) await context.produce(topics.incidents, messages);
        if (recoveryWrites.length > 0) await context.produce(topics.recoveries, recoveryWrites.map(encodeRecovery));
        await sendDeadLetters(context.produce, deps, 'correlator', dead);
        state.commit(staged.incidents.values(), staged.recoveries.values());
        noteOutput(messages, coalesced);
        for (const incident of incidentWrites) deps.tail?.publish({ kind: 'incident', incident });
      }),
  });
  const viewerStart = bus.consume({
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
  const inventoryStart = bus.consume({
    group: 'mistbridge-correlator-inventory',
    topics: [topics.inventory],
    ephemeral: true,
    handler: async (batch) => {
      const changed: InventoryDevice[] = [];
      for (const message of batch) {
        inventory.apply(message.key, message.value);
        const device = message.key.startsWith('device:') ? inventory.device(message.key.slice(message.key.lastIndexOf(':') + 1)) : undefined;
        if (device) changed.push(device);
      }
      // The incident state's generation (null until the events consumer is assigned).
      await state.ifCurrent(state.generation, () => reconcileWork(changed));
    },
  });
  // Started side by side (a group join on Kafka takes seconds).
  const [consumer, viewer, inventoryReader] = await Promise.all([consumerStart, viewerStart, inventoryStart]);

  const runSweep = (): Promise<void> => state.ifCurrent(consumer.assigned(), sweepWork);
  const stopFlush = clock.every(Math.max(1000, Math.min(updateMinMs, 5000)), () => {
    state.ifCurrent(consumer.assigned(), () => flushWork()).catch((err: Error) => logger.error('incident output flush failed', { error: err.message }));
  });
  const stopTimer = clock.every(Math.min(SWEEP_INTERVAL_MS, Math.max(1000, Math.floor(rules.securityQuietWindowMs / 2))), () => {
    runSweep().catch((err: Error) => logger.error('incident sweep failed', { error: err.message }));
  });

  return {
    group: consumer.group,
    ready: () => consumer.ready() && viewer.ready() && inventoryReader.ready(),
    assigned: () => consumer.assigned(),
    sweep: runSweep,
    flush: () => state.ifCurrent(consumer.assigned(), () => flushWork()),
    *incidents() {
      for (const message of view.values()) yield incidents.decode(message.value!, message.headers[SCHEMA_HEADER]);
    },
    incident(key) {
      const message = view.get(key);
      return message && incidents.decode(message.value!, message.headers[SCHEMA_HEADER]);
    },
    deviceName: (mac) => inventory.device(mac)?.name ?? names.get(mac) ?? null,
    inventory: () => inventory.devices(),
    async stop() {
      stopTimer();
      stopFlush();
      // What waits for its interval goes out now: a shutdown leaves nothing unpublished.
      await state.ifCurrent(consumer.assigned(), () => flushWork(true)).catch((err: Error) => logger.warn('incident output not flushed at shutdown; the next owner publishes it', { error: err.message }));
      await Promise.all([consumer.stop(), viewer.stop(), inventoryReader.stop()]);
      await state.idle();
    },
  };
}
