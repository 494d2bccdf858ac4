import { hash } from 'node:crypto';
import { canonicalTopic } from '../domain/topic';
import { alarmAsWebhook, deviceEventAsWebhook, identityOf } from './shapes';

/**
 * Back-fill's pure parts (CONTRACT section 8): the window of a pass, what counts as already
 * delivered, and the webhook bodies to re-inject.
 */

/** The topics back-fill recovers; the memory of what was delivered is kept for these only. */
export const BACKFILL_TOPICS = ['alarms', 'audits', 'device-events'] as const;
export type BackfillTopic = (typeof BACKFILL_TOPICS)[number];

/**
 * Since the last complete pass, overlapping it by one period, at most `maxMs` back; the first
 * pass ever covers one period (a first start has no gap to fill: webhooks were not set up yet).
 */
export function passWindow(now: number, lastEnd: number | null, periodMs: number, maxMs: number): { start: number; end: number } {
  const from = lastEnd === null ? now - periodMs : lastEnd - periodMs;
  return { start: Math.max(from, now - maxMs), end: now };
}

/** The key an identity is remembered under (`mist.backfill`): fixed length, whatever the ids. */
export const seenKey = (identity: string): string => `seen:${hash('sha256', identity, 'hex').slice(0, 32)}`;

/** Identities delivered (by webhook or back-fill), each with when it was seen, forgotten after `maxMs`. */
export class Delivered {
  readonly #seen = new Map<string, number>();

  constructor(private readonly maxMs: number) {}

  has(key: string): boolean {
    return this.#seen.has(key);
  }

  add(key: string, at: number): void {
    this.#seen.set(key, at);
  }

  /** What is older than the window (to tombstone, then forget). */
  expired(now: number): string[] {
    const gone: string[] = [];
    for (const [key, at] of this.#seen) if (at <= now - this.maxMs) gone.push(key);
    return gone;
  }

  forget(keys: Iterable<string>): void {
    for (const key of keys) this.#seen.delete(key);
  }

  clear(): void {
    this.#seen.clear();
  }

  get size(): number {
    return this.#seen.size;
  }
}

/** The events of a delivered webhook body that back-fill would recognise, as remembered keys. */
export function deliveredKeys(body: unknown): string[] {
  if (!body || typeof body !== 'object') return [];
  const { topic, events } = body as { topic?: unknown; events?: unknown };
  if (typeof topic !== 'string' || !Array.isArray(events) || !(BACKFILL_TOPICS as readonly string[]).includes(canonicalTopic(topic))) return [];
  return events.filter((e): e is Record<string, unknown> => !!e && typeof e === 'object').map((e) => seenKey(identityOf(topic, e)));
}

/** REST results of a search, in webhook shape, by topic. */
export function asWebhookEvents(topic: BackfillTopic, results: Array<Record<string, unknown>>): Array<Record<string, unknown>> {
  if (topic === 'alarms') return results.map(alarmAsWebhook);
  if (topic === 'device-events') return results.map(deviceEventAsWebhook);
  return results.map((r) => ({ ...r }));
}

/**
 * Webhook bodies of at most `perBody` events, each event not delivered before (and each once).
 * Pure: nothing is marked here. The caller marks the keys only once the bodies are written
 * (a mark before the write is an event lost for good when the write fails).
 */
export function newBodies(topic: string, events: Array<Record<string, unknown>>, delivered: Pick<Delivered, 'has'>, perBody = 100): { bodies: Buffer[]; keys: string[] } {
  const fresh: Array<Record<string, unknown>> = [];
  const keys: string[] = [];
  const taken = new Set<string>();
  for (const event of events) {
    const key = seenKey(identityOf(topic, event));
    if (delivered.has(key) || taken.has(key)) continue;
    taken.add(key);
    keys.push(key);
    fresh.push(event);
  }
  const bodies: Buffer[] = [];
  for (let i = 0; i < fresh.length; i += perBody) bodies.push(Buffer.from(JSON.stringify({ topic, events: fresh.slice(i, i + perBody) })));
  return { bodies, keys };
}
