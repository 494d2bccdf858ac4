import { hash } from 'node:crypto';
import { canonicalJson } from '../shared/canonical-json';

/**
 * CONTRACT section 5: first 32 hex chars of SHA-256 over the topic and the canonical JSON of the
 * whole event. Identical deliveries (org and site webhooks, Mist repeats, bus redelivery) share it;
 * any difference in any field changes it. One-shot `hash` costs half of a `createHash` object here.
 */
export function eventId(topic: string, event: Record<string, unknown>): string {
  return hash('sha256', `${topic}\n${canonicalJson(event)}`, 'hex').slice(0, 32);
}
