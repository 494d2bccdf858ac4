import { hash } from 'node:crypto';
import { canonicalJson } from '../shared/canonical-json';

/**
 * CONTRACT section 5: first 32 hex chars of SHA-256 over the topic and the canonical JSON of the
 * whole event. Identical deliveries (org and site webhooks, Mist repeats, bus redelivery) share it;
 * any difference in any field changes it. One-shot `hash` costs half of a `createHash` object here.
 */
export function eventId(topic: string, event: Record<string, unknown>): string {
  const digest = hash('sha256', `${topic}\n${canonicalJson(event)}`, 'hex');
  // Parsed, not sliced: a slice keeps the whole 64-character digest alive as long as the id, and
  // the dedupe window keeps 600,000 ids at 1,000 events/s.
  return JSON.parse(`"${digest.slice(0, 32)}"`) as string;
}
