import type { BusMessage, OutgoingMessage } from '../bus/bus';
import type { EventFilter, NotifyDestination } from '../config/config';
import { lettersFor, sendDeadLetters } from '../dlq/dead-letter';
import { decodeOrDeadLetter } from '../domain/decode';
import { eventCodec, type MistEvent } from '../domain/mist-event';
import { SEVERITIES } from '../config/file-schema';
import { canonicalTopic } from '../domain/topic';
import { LogThrottle } from '../shared/log-throttle';
import type { RoleDeps } from '../shared/role-deps';
import { poster } from './post';
import type { NotifyHandle } from './worker';

/** Events a route may hold while its destination is slow or down; beyond, they are dead-lettered. */
const MAX_QUEUED = 1000;
/** A message that keeps failing (429, 5xx, no answer) is given up after this long, then dead-lettered. */
const RETRY_LIMIT_MS = 120_000;
/** A chat message lists at most this many events (the rest go in the next one). */
const CHAT_MAX_EVENTS = 20;

/**
 * Whether an event matches a route's filter (CONTRACT section 10): topic (canonical), type,
 * site_id, severity (at least), and `match` fields looked up at the top level of the MistEvent,
 * then in `attributes`.
 */
export function eventMatches(filter: EventFilter, event: MistEvent): boolean {
  if (filter.topic !== undefined && canonicalTopic(filter.topic) !== canonicalTopic(event.topic)) return false;
  if (filter.type !== undefined && filter.type.toLowerCase() !== event.type.toLowerCase()) return false;
  if (filter.site_id !== undefined && filter.site_id !== event.site_id) return false;
  // SEVERITIES runs from critical down: at least the filter's is at or before it
  if (filter.severity !== undefined && SEVERITIES.indexOf(event.severity) > SEVERITIES.indexOf(filter.severity)) return false;
  for (const [field, wanted] of Object.entries(filter.match ?? {})) {
    const top = (event as unknown as Record<string, unknown>)[field];
    const value = top !== undefined && top !== null && typeof top !== 'object' ? String(top) : event.attributes[field];
    if (value !== wanted) return false;
  }
  return true;
}

/** What a route posts: a generic webhook one `{"event": …}` per event; chat one message for a group. */
export function eventBodies(kind: NotifyDestination['kind'], events: MistEvent[]): unknown[] {
  if (kind === 'webhook') return events.map((event) => ({ event }));
  const lines = events.map((e) => `• [${e.severity}] ${e.message}`);
  const title = events.length === 1 ? `Mist ${events[0]!.topic}: ${events[0]!.type}` : `${events.length} Mist events`;
  // Teams workflow webhooks take an Adaptive Card in a message envelope (as the incident messages do); Slack and Google Chat plain text.
  if (kind === 'teams') {
    const body = [{ type: 'TextBlock', text: title, weight: 'Bolder', wrap: true }, ...lines.map((text) => ({ type: 'TextBlock', text, wrap: true, spacing: 'Small' }))];
    return [{ type: 'message', attachments: [{ contentType: 'application/vnd.microsoft.card.adaptive', contentUrl: null, content: { $schema: 'http://adaptivecards.io/schemas/adaptive-card.json', type: 'AdaptiveCard', version: '1.4', body } }] }];
  }
  return [{ text: `${title}\n${lines.join('\n')}` }];
}

/**
 * An event route (CONTRACT section 10): mist.events → one destination. It never holds the
 * pipeline back: the consumer takes matching events into the route's own bounded queue and
 * commits at once (a route is a notification, not a delivery guarantee: beyond MAX_QUEUED, and
 * after RETRY_LIMIT_MS of failures, events are dead-lettered with the route as destination). The
 * queue drains at the route's rate cap; chat groups per NOTIFY_GROUP_S. A new route starts at the
 * end of the events: it never replays history to chat.
 */
export async function startEventRoute(deps: RoleDeps, destination: NotifyDestination & { events: EventFilter }): Promise<NotifyHandle> {
  const { bus, topics, config, logger, metrics } = deps;
  const codec = eventCodec();
  const letter = lettersFor(deps, 'notify', destination.name);
  const host = new URL(destination.url).host;
  const throttle = new LogThrottle(logger);
  const counter = metrics.notify!;
  const stopping = new AbortController();
  const queue: Array<{ event: MistEvent; source: BusMessage }> = [];
  let wake: (() => void) | null = null;
  const dlq = (letters: OutgoingMessage[]): Promise<void> => sendDeadLetters((topic, messages) => bus.produce(topic, messages), deps, 'notify', letters);

  const post = poster(destination, {
    retryMaxMs: config.notify.retryMaxMs,
    signal: stopping.signal,
    limitMs: RETRY_LIMIT_MS,
    onRetry: (error, attempt, waitMs) => {
      counter.inc({ destination: destination.name, outcome: 'retried' });
      throttle.log('warn', 'retry', 'event route message will be retried', { destination: destination.name, host, reason: error.message, attempt, waitMs });
    },
  });

  const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

  // The sender: at most ratePerS messages a second; chat waits NOTIFY_GROUP_S to group.
  const sender = (async () => {
    const chat = destination.kind !== 'webhook';
    while (!stopping.signal.aborted) {
      if (queue.length === 0) {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
        continue;
      }
      if (chat && config.notify.groupMs > 0) await sleep(config.notify.groupMs);
      const taken = queue.splice(0, chat ? CHAT_MAX_EVENTS : 1);
      try {
        for (const body of eventBodies(destination.kind, taken.map((t) => t.event))) await post(body);
        counter.inc({ destination: destination.name, outcome: 'sent' });
        throttle.reset('retry');
      } catch (err) {
        if (stopping.signal.aborted) break;
        counter.inc({ destination: destination.name, outcome: 'rejected' });
        await dlq(taken.map((t) => letter('notify_rejected', (err as Error).message, t.source))).catch((e: Error) => logger.error('event route letters not written', { error: e.message }));
      }
      await sleep(1000 / destination.ratePerS);
    }
  })();

  const consumer = await bus.consume({
    group: `mistbridge-notify-${destination.name}`,
    stage: 'notify',
    destination: destination.name,
    topics: [topics.events],
    maxBatch: 2000,
    fromEnd: true,
    handler: async (batch) => {
      const dead: OutgoingMessage[] = [];
      const overflow: OutgoingMessage[] = [];
      for (const message of batch) {
        if (!message.value) continue;
        const event = decodeOrDeadLetter(codec, { ...message, value: message.value }, dead, letter);
        if (!event || !eventMatches(destination.events, event)) continue;
        if (queue.length >= MAX_QUEUED) overflow.push(letter('notify_rejected', `event route ${destination.name}: ${MAX_QUEUED} events waiting for ${host}; this one dead-lettered (the route never holds the pipeline back)`, message));
        else queue.push({ event, source: message });
      }
      await dlq([...dead, ...overflow]);
      wake?.();
    },
  });
  logger.info('event route started', { destination: destination.name, host, filter: destination.events, rate_per_s: destination.ratePerS });

  return {
    group: consumer.group,
    ready: () => consumer.ready(),
    assigned: () => consumer.assigned(),
    flush: async () => undefined,
    async stop() {
      stopping.abort();
      wake?.();
      await consumer.stop();
      await sender.catch(() => undefined);
      // What the route still held is told, not dropped: dead-lettered, so a redrive can send it later.
      const left = queue.splice(0);
      if (left.length > 0) await dlq(left.map((t) => letter('notify_rejected', `event route ${destination.name}: the process stopped before ${host} was sent this event`, t.source))).catch((e: Error) => logger.error('event route letters not written', { error: e.message }));
    },
  };
}
