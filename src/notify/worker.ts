import type { BusMessage, Consumer, OutgoingMessage } from '../bus/bus';
import type { NotifyDestination } from '../config/config';
import { lettersFor, sendDeadLetters } from '../dlq/dead-letter';
import { decodeOrDeadLetter } from '../domain/decode';
import { incidentCodec, type Incident } from '../domain/incident';
import { SCHEMA_HEADER } from '../shared/avro';
import { LogThrottle } from '../shared/log-throttle';
import { PermanentError, RetryableError, retrying } from '../shared/retry';
import type { RoleDeps } from '../shared/role-deps';
import { bodies } from './messages';
import { transitionsOf, wanted, type Seen } from './transitions';

export const NOTIFY_GROUP_PREFIX = 'mistbridge-notify-';
const OUTCOMES = ['sent', 'retried', 'rejected'] as const;

/**
 * The notify role (CONTRACT section 9): mist.incidents → chat and webhook destinations. Each
 * destination has a consumer group of its own, so one that refuses or throttles holds back only
 * itself. A batch is what arrived within NOTIFY_GROUP_S (the bus lingers that long), grouped into
 * one message per destination; its offsets are committed only after the destination took the
 * message (at-least-once: a restart mid-delivery sends it again). 429 and 5xx are retried with
 * backoff honouring Retry-After (capped); another 4xx dead-letters the incidents of the message.
 */
export async function startNotify(deps: RoleDeps): Promise<Consumer[]> {
  const { config, logger, metrics } = deps;
  if (config.notify.destinations.length === 0) {
    logger.info('notifications off: set NOTIFY_SLACK_WEBHOOK_URL, NOTIFY_TEAMS_WEBHOOK_URL, NOTIFY_GOOGLECHAT_WEBHOOK_URL or NOTIFY_WEBHOOK_URL (or notify.routes in the YAML file)');
    return [];
  }
  for (const d of config.notify.destinations) for (const outcome of OUTCOMES) metrics.notify!.inc({ destination: d.name, outcome }, 0);
  return Promise.all(config.notify.destinations.map((d) => startDestination(deps, d)));
}

async function startDestination(deps: RoleDeps, destination: NotifyDestination): Promise<Consumer> {
  const { bus, topics, config, logger, metrics } = deps;
  const codec = incidentCodec();
  const letter = lettersFor(deps, 'notify');
  const seen: Seen = new Map();
  // Where each key's latest write sits: writes at or after the position a partition resumes from
  // were not delivered yet (a crash mid-delivery), so they are not "seen" (see onAssign).
  const written = new Map<string, { partition: number; offset: bigint }>();
  const resumed = new Set<number>();
  const host = new URL(destination.url).host; // the URL is a secret: its host is what is logged
  const throttle = new LogThrottle(logger);
  const counter = metrics.notify!;

  const send = (body: unknown, signal: AbortSignal): Promise<void> =>
    retrying(
      async () => {
        let response: Response;
        try {
          response = await fetch(destination.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body), signal: AbortSignal.any([signal, AbortSignal.timeout(15_000)]) });
        } catch (err) {
          throw new RetryableError(`${host}: ${(err as Error).message}`);
        }
        const text = (await response.text()).slice(0, 200);
        if (response.ok) return;
        if (response.status === 429 || response.status >= 500) {
          const after = Number(response.headers.get('retry-after'));
          throw new RetryableError(`${host}: HTTP ${response.status} ${text}`, Number.isFinite(after) && response.headers.get('retry-after') !== null ? after * 1000 : null);
        }
        throw new PermanentError(`${host}: HTTP ${response.status} ${text}`, 'notify_rejected');
      },
      {
        baseMs: 1000,
        capMs: 60_000,
        signal,
        onRetry: (error, attempt, waitMs) => {
          counter.inc({ destination: destination.name, outcome: 'retried' });
          throttle.log('warn', 'retry', 'notification will be retried', { destination: destination.name, host, reason: error.message, attempt, waitMs });
        },
      },
    );

  return bus.consume({
    group: `${NOTIFY_GROUP_PREFIX}${destination.name}`,
    stage: 'notify',
    onRedriven: (count) => deps.metrics.dlqRedriven?.inc({ stage: 'notify' }, count),
    topics: [topics.incidents],
    maxBatch: 10_000,
    lingerMs: config.notify.groupMs,
    onAssign: async (assignment) => {
      // What each key had already: a restart does not announce the open incidents again...
      seen.clear();
      written.clear();
      resumed.clear();
      const partitions = assignment.find((a) => a.topic === topics.incidents)?.partitions ?? [];
      for (const m of await bus.snapshot(topics.incidents, partitions)) {
        if (!m.value) continue;
        try {
          const incident = codec.decode(m.value, m.headers[SCHEMA_HEADER]);
          seen.set(incident.key, { incident_id: incident.incident_id, state: incident.state, version: incident.version });
          written.set(incident.key, { partition: m.partition, offset: BigInt(m.offset) });
        } catch {
          // an unreadable write is dead-lettered when it is consumed
        }
      }
    },
    handler: async (batch, context) => {
      const dead: OutgoingMessage[] = [];
      const writes: Incident[] = [];
      const sources = new Map<string, BusMessage[]>();
      const forgotten: string[] = [];
      for (const message of batch) {
        // ...but what a partition resumes with was never delivered: forget it, so it is sent again.
        if (!resumed.has(message.partition)) {
          resumed.add(message.partition);
          const from = BigInt(message.offset);
          for (const [key, at] of written) if (at.partition === message.partition && at.offset >= from) seen.delete(key);
        }
        if (!message.value) {
          forgotten.push(message.key); // a forgotten incident: nothing to tell
          continue;
        }
        const incident = decodeOrDeadLetter(codec, { ...message, value: message.value }, dead, letter);
        if (!incident) continue;
        writes.push(incident);
        sources.set(incident.incident_id, [...(sources.get(incident.incident_id) ?? []), message]);
      }
      // Staged: a batch that is not delivered (a stop mid-delivery) is worked out again next time.
      const staged: Seen = new Map(seen);
      const group = transitionsOf(writes, staged).filter((t) => wanted(destination, t));
      if (group.length > 0) {
        try {
          for (const body of bodies(destination.kind, group, config.notify.links)) await send(body, context.signal);
          counter.inc({ destination: destination.name, outcome: 'sent' });
          logger.info('notification sent', { destination: destination.name, host, transitions: group.length });
        } catch (err) {
          if (!(err instanceof PermanentError)) throw err;
          counter.inc({ destination: destination.name, outcome: 'rejected' });
          for (const t of group) for (const source of sources.get(t.incident.incident_id) ?? []) dead.push(letter('notify_rejected', err.message, source));
        }
      }
      await sendDeadLetters(context.produce, deps, 'notify', dead);
      for (const [key, value] of staged) seen.set(key, value);
      for (const key of forgotten) seen.delete(key);
    },
  });
}
