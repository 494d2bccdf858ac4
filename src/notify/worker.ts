import { isQuiet, type BusMessage, type Consumer, type OutgoingMessage } from '../bus/bus';
import { Projection } from '../bus/projection';
import type { NotifyDestination } from '../config/config';
import { lettersFor, sendDeadLetters } from '../dlq/dead-letter';
import { REDRIVE_HEADER } from '../dlq/letters';
import { decodeOrDeadLetter, decodeSnapshot } from '../domain/decode';
import { incidentCodec, type Incident } from '../domain/incident';
import { LogThrottle } from '../shared/log-throttle';
import { PermanentError } from '../shared/retry';
import { poster } from './post';
import type { RoleDeps } from '../shared/role-deps';
import { GroupWindow } from './group-window';
import { startEventRoute } from './event-route';
import { bodies } from './messages';
import { forcedTransition, seenOf, transitionsOf, wanted, type SeenIncident, type Transition } from './transitions';

export const NOTIFY_GROUP_PREFIX = 'mistbridge-notify-';
const OUTCOMES = ['sent', 'retried', 'rejected'] as const;

export interface NotifyHandle extends Consumer {
  /** Sends what the group windows hold now (a shutdown does this before it stops). */
  flush(): Promise<void>;
}

/**
 * The notify role (CONTRACT section 9): mist.incidents → chat and webhook destinations. Each
 * destination has a consumer group of its own, so one that refuses or throttles holds back only
 * itself. Its state — what each key's last notified write was — is a projection of the assigned
 * partitions, rebuilt at every assignment from the incident snapshot and the group's committed
 * offsets (a write before the commit was notified). Transitions go to the destination's group
 * window, which sends one message per NOTIFY_GROUP_S whatever the bus hands over; a batch's
 * offsets are committed only after that message was taken (at-least-once). 429 and 5xx are
 * retried with backoff honouring Retry-After (capped); another 4xx dead-letters the incidents of
 * the message, naming the destination.
 */
export async function startNotify(deps: RoleDeps): Promise<NotifyHandle[]> {
  const { config, logger, metrics } = deps;
  if (config.notify.destinations.length === 0) {
    logger.info('notifications off: set NOTIFY_SLACK_WEBHOOK_URL, NOTIFY_TEAMS_WEBHOOK_URL, NOTIFY_GOOGLECHAT_WEBHOOK_URL or NOTIFY_WEBHOOK_URL (or notify.routes in the YAML file)');
    return [];
  }
  for (const d of config.notify.destinations) for (const outcome of OUTCOMES) metrics.notify!.inc({ destination: d.name, outcome }, 0);
  // Event routes read mist.events; the other destinations are told incident transitions.
  return Promise.all(config.notify.destinations.map((d) => (d.events ? startEventRoute(deps, { ...d, events: d.events }) : startDestination(deps, d))));
}

async function startDestination(deps: RoleDeps, destination: NotifyDestination): Promise<NotifyHandle> {
  const { bus, topics, config, logger, metrics, clock } = deps;
  const codec = incidentCodec();
  const letter = lettersFor(deps, 'notify', destination.name);
  const group = `${NOTIFY_GROUP_PREFIX}${destination.name}`;
  const seen = new Map<string, SeenIncident>();
  const projection = new Projection(() => seen.clear());
  const host = new URL(destination.url).host; // the URL is a secret: its host is what is logged
  const throttle = new LogThrottle(logger);
  const counter = metrics.notify!;
  const stopping = new AbortController();

  const post = poster(destination, {
    retryMaxMs: config.notify.retryMaxMs,
    signal: stopping.signal,
    onRetry: (error, attempt, waitMs) => {
      counter.inc({ destination: destination.name, outcome: 'retried' });
      throttle.log('warn', 'retry', 'notification will be retried', { destination: destination.name, host, reason: error.message, attempt, waitMs });
    },
  });

  const window = new GroupWindow(config.notify.groupMs, clock, async (transitions) => {
    try {
      for (const body of bodies(destination.kind, transitions, config.notify.links)) await post(body);
    } catch (err) {
      if (err instanceof PermanentError) counter.inc({ destination: destination.name, outcome: 'rejected' });
      throw err;
    }
    counter.inc({ destination: destination.name, outcome: 'sent' });
    throttle.reset('retry');
    logger.info('notification sent', { destination: destination.name, host, transitions: transitions.length });
  });

  /** A batch's transitions against what was notified; the marks move with them (see the handler). */
  const plan = (batch: BusMessage[], dead: OutgoingMessage[]): { transitions: Transition[]; sources: Map<string, BusMessage[]> } => {
    const writes: Incident[] = [];
    const told: Transition[] = [];
    const forced: Transition[] = [];
    const sources = new Map<string, BusMessage[]>();
    for (const message of batch) {
      if (!message.value) {
        // A forgotten incident: nothing to tell. In order: what the batch wrote before is told first.
        told.push(...transitionsOf(writes.splice(0), seen));
        seen.delete(message.key);
        continue;
      }
      // Counters only: published (and told, if at all) by the correlator's flush, unless this
      // destination never saw the incident (its opening was compacted away before it was told).
      if (isQuiet(message.headers) && seen.has(message.key)) continue;
      const incident = decodeOrDeadLetter(codec, { ...message, value: message.value }, dead, letter);
      if (!incident) continue;
      sources.set(incident.incident_id, [...(sources.get(incident.incident_id) ?? []), message]);
      // A redriven message was refused before: it goes again, whatever was sent since.
      if (message.headers[REDRIVE_HEADER] !== undefined) forced.push(forcedTransition(incident));
      else writes.push(incident);
    }
    told.push(...transitionsOf(writes, seen));
    return { transitions: [...told.filter((t) => wanted(destination, t)), ...forced], sources };
  };

  const consumer = await bus.consume({
    group,
    stage: 'notify',
    destination: destination.name,
    onRedriven: (count) => metrics.dlqRedriven?.inc({ stage: 'notify' }, count),
    topics: [topics.incidents, topics.redrive],
    maxBatch: 10_000,
    // A new destination starts from now: it never announces the history it was not there for.
    fromEnd: true,
    onAssign: (assignment, generation) =>
      projection.rebuild(generation, async () => {
        const partitions = assignment.find((a) => a.topic === topics.incidents)?.partitions ?? [];
        const committed = await bus.committedOffsets(group, topics.incidents);
        for (const { message, value } of decodeSnapshot(codec, await bus.snapshot(topics.incidents, partitions), logger, topics.incidents)) {
          const next = committed.get(message.partition) ?? null;
          // Written before the group's commit: notified already. At or after it: delivered again, told then.
          if (next !== null && BigInt(message.offset) < BigInt(next)) seen.set(message.key, seenOf(value));
        }
      }),
    handler: async (batch, context) => {
      const dead: OutgoingMessage[] = [];
      // The in-memory marks move at once, so that later batches in the same window build on them;
      // the durable mark (the commit) waits for the message (context.defer). Whatever loses the
      // message — a revoke, a stop, a crash — also rebuilds these marks from the last commit.
      const { transitions, sources } = await projection.apply(context.generation, async () => plan(batch, dead));
      await sendDeadLetters(context.produce, deps, 'notify', dead);
      if (transitions.length === 0) return;
      context.defer(
        window.add(transitions).catch(async (err: unknown) => {
          if (!(err instanceof PermanentError)) throw err;
          const refused = transitions.flatMap((t) => sources.get(t.incident.incident_id) ?? []).map((source) => letter('notify_rejected', err.message, source));
          await sendDeadLetters(context.produce, deps, 'notify', refused);
        }),
      );
    },
  });

  return {
    group: consumer.group,
    ready: () => consumer.ready(),
    assigned: () => consumer.assigned(),
    flush: () => window.flush(),
    async stop() {
      // What the window holds goes out now; a destination that does not take it in time is sent
      // it again after the restart (nothing was committed for it).
      await Promise.race([window.flush(), new Promise((resolve) => setTimeout(resolve, 5000).unref())]);
      stopping.abort();
      await consumer.stop();
    },
  };
}
