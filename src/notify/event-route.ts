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

/** Reservations of the process above this share of their bound make a route let go of what it holds. */
const PRESSURE_SHARE = 0.5;
/** Under pressure a route keeps what its rate cap sends in this many seconds. */
const PRESSURE_BACKLOG_S = 5;

type Held = { event: MistEvent; source: BusMessage; settle: { resolve: () => void; reject: (err: Error) => void } };

/**
 * An event route (CONTRACT section 10): mist.events → one destination. A batch is committed once
 * each of its matching events was sent or dead-lettered (context.defer; the consumer goes on
 * fetching meanwhile), so a kill -9 loses none: they are read again. It never holds the pipeline
 * back: its queue is bounded (MAX_QUEUED; beyond, events are dead-lettered at once), a failing
 * message is given up after RETRY_LIMIT_MS, and when the process's memory reservations pass half
 * their bound (on the embedded bus the events a route has not committed stay in memory) a chat
 * group goes out at once and a message still failing is given up — given up means dead-lettered
 * with the route as destination, durably, before the commit. The queue drains at the route's rate
 * cap; chat groups per NOTIFY_GROUP_S. A new route starts at the end of the events: it never
 * replays history to chat.
 */
export async function startEventRoute(deps: RoleDeps, destination: NotifyDestination & { events: EventFilter }): Promise<NotifyHandle> {
  const { bus, topics, config, logger, metrics, memory } = deps;
  const codec = eventCodec();
  const letter = lettersFor(deps, 'notify', destination.name);
  const host = new URL(destination.url).host;
  const throttle = new LogThrottle(logger);
  const counter = metrics.notify!;
  const stopping = new AbortController();
  const queue: Held[] = [];
  let inFlight: { failing: boolean; attempt: AbortController } | null = null;
  let wake: (() => void) | null = null;
  const stopReason = `event route ${destination.name}: the process stopped before ${host} was sent this event`;
  const memoryReason = `event route ${destination.name}: ${host} failing while the process needed the memory the route held`;
  const pressed = (): boolean => memory !== undefined && memory.held() >= memory.limit * PRESSURE_SHARE;

  /** Dead-letters what could not be sent; its batches commit once the letters are durable (a failed write re-reads them). */
  const giveUp = async (held: Held[], reason: string): Promise<void> => {
    if (held.length === 0) return;
    try {
      await sendDeadLetters((topic, messages) => bus.produce(topic, messages), deps, 'notify', held.map((h) => letter('notify_rejected', reason, h.source)));
      for (const h of held) h.settle.resolve();
    } catch (err) {
      logger.error('event route letters not written: their events are read again', { destination: destination.name, error: (err as Error).message });
      for (const h of held) h.settle.reject(err as Error);
    }
  };

  const post = poster(destination, {
    retryMaxMs: config.notify.retryMaxMs,
    signal: stopping.signal,
    limitMs: RETRY_LIMIT_MS,
    onRetry: (error, attempt, waitMs) => {
      if (inFlight) inFlight.failing = true;
      counter.inc({ destination: destination.name, outcome: 'retried' });
      throttle.log('warn', 'retry', 'event route message will be retried', { destination: destination.name, host, reason: error.message, attempt, waitMs });
    },
  });

  /** A flush is under way: the sender does not wait for a chat group. */
  let flushing = false;
  /** A wait that a stop cuts short, and `cut` too (checked every 250 ms). */
  const pause = (ms: number, cut?: () => boolean): Promise<void> =>
    new Promise((resolve) => {
      const timer = setTimeout(done, ms);
      const watch = cut ? setInterval(() => cut() && done(), 250) : undefined;
      function done(): void {
        clearTimeout(timer);
        clearInterval(watch);
        stopping.signal.removeEventListener('abort', done);
        resolve();
      }
      stopping.signal.addEventListener('abort', done, { once: true });
    });

  // Under memory pressure the route lets go: a message that keeps failing is abandoned (the sender
  // then gives up the queue too), and what its rate cap cannot send within PRESSURE_BACKLOG_S is given up now.
  // Looked at on a timer and at every batch (a burst must not outrun the timer).
  const letGoIfPressed = (): void => {
    if (!pressed()) return;
    if (inFlight?.failing) inFlight.attempt.abort();
    const keep = Math.max(CHAT_MAX_EVENTS, destination.ratePerS * PRESSURE_BACKLOG_S);
    if (queue.length > keep) void giveUp(queue.splice(keep), `event route ${destination.name}: more waiting for ${host} than its rate cap sends in ${PRESSURE_BACKLOG_S} s while the process needed the memory the route held`);
  };
  const watch = setInterval(letGoIfPressed, 250);
  watch.unref();

  // The sender: at most ratePerS messages a second; chat waits NOTIFY_GROUP_S to group.
  const sender = (async () => {
    const chat = destination.kind !== 'webhook';
    while (!stopping.signal.aborted) {
      if (queue.length === 0) {
        await new Promise<void>((resolve) => (wake = resolve));
        wake = null;
        continue;
      }
      if (chat && config.notify.groupMs > 0 && !pressed() && !flushing) await pause(config.notify.groupMs, () => pressed() || flushing);
      if (stopping.signal.aborted) break;
      const taken = queue.splice(0, chat ? CHAT_MAX_EVENTS : 1);
      inFlight = { failing: false, attempt: new AbortController() };
      try {
        for (const body of eventBodies(destination.kind, taken.map((t) => t.event))) await post(body, inFlight.attempt.signal);
        counter.inc({ destination: destination.name, outcome: 'sent' });
        throttle.reset('retry');
        for (const t of taken) t.settle.resolve();
      } catch (err) {
        if (stopping.signal.aborted) {
          queue.unshift(...taken); // the stop dead-letters them
          break;
        }
        counter.inc({ destination: destination.name, outcome: 'rejected' });
        const letGo = inFlight.attempt.signal.aborted;
        await giveUp(taken, letGo ? memoryReason : (err as Error).message);
        if (letGo) await giveUp(queue.splice(0), memoryReason);
      } finally {
        inFlight = null;
      }
      await pause(1000 / destination.ratePerS);
    }
  })();

  /** Sends what the route holds now (no group wait; the rate cap holds); resolves once the queue is empty. */
  let flushed: Promise<void> | null = null;
  const flush = (): Promise<void> =>
    (flushed ??= (async () => {
      flushing = true;
      wake?.();
      while ((queue.length > 0 || inFlight) && !stopping.signal.aborted) await pause(50);
      flushing = false;
      flushed = null;
    })());

  const consumer = await bus.consume({
    group: `mistbridge-notify-${destination.name}`,
    stage: 'notify',
    destination: destination.name,
    topics: [topics.events],
    maxBatch: 2000,
    fromEnd: true,
    handler: async (batch, context) => {
      const dead: OutgoingMessage[] = [];
      const sending: Promise<void>[] = [];
      for (const message of batch) {
        if (!message.value) continue;
        const event = decodeOrDeadLetter(codec, { ...message, value: message.value }, dead, letter);
        if (!event || !eventMatches(destination.events, event)) continue;
        if (stopping.signal.aborted) dead.push(letter('notify_rejected', stopReason, message));
        else if (inFlight?.failing && pressed()) dead.push(letter('notify_rejected', memoryReason, message));
        else if (queue.length >= MAX_QUEUED) dead.push(letter('notify_rejected', `event route ${destination.name}: ${MAX_QUEUED} events waiting for ${host}; this one dead-lettered (the route never holds the pipeline back)`, message));
        else sending.push(new Promise<void>((resolve, reject) => queue.push({ event, source: message, settle: { resolve, reject } })));
      }
      await sendDeadLetters(context.produce, deps, 'notify', dead);
      if (sending.length > 0) context.defer(Promise.all(sending));
      letGoIfPressed();
      wake?.();
    },
  });
  logger.info('event route started', { destination: destination.name, host, filter: destination.events, rate_per_s: destination.ratePerS });

  return {
    group: consumer.group,
    ready: () => consumer.ready(),
    assigned: () => consumer.assigned(),
    flush,
    async stop() {
      // What the route holds goes out first, for at most 5 s; the rest is dead-lettered below.
      await Promise.race([flush(), pause(5000)]);
      stopping.abort();
      clearInterval(watch);
      wake?.();
      await sender.catch(() => undefined);
      // What the route still held is told, not dropped: dead-lettered (a redrive can send it later), so its batches commit and a clean stop leaves nothing to replay.
      await giveUp(queue.splice(0), stopReason);
      await consumer.stop();
    },
  };
}
