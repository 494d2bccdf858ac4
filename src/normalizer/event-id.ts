import { createHash } from 'node:crypto';
import { canonicalJson } from '../shared/canonical-json';

/**
 * CONTRACT section 5: first 32 hex chars of SHA-256 over the topic and the canonical JSON of the
 * whole event. Identical deliveries (org and site webhooks, Mist repeats, bus redelivery) share it;
 * any difference in any field changes it.
 */
export function eventId(topic: string, event: Record<string, unknown>): string {
  return createHash('sha256').update(topic).update('\n').update(canonicalJson(event)).digest('hex').slice(0, 32);
}
