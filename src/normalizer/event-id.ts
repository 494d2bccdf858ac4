import { hash } from 'node:crypto';
import { canonicalJson } from '../shared/canonical-json';

/**
 * Fields that differ between an org-level and a site-level delivery of the same event (the Mist
 * OpenAPI marks org+site topics with a per-delivery `for_site`): left out of the id, so the two
 * deliveries collapse into one event.
 */
export const DELIVERY_FLAGS: readonly string[] = ['for_site'];

/**
 * CONTRACT section 5 (0.2): first 32 hex chars of SHA-256 over the canonical topic and the
 * canonical JSON of the whole event less the delivery flags. Identical events (org and site
 * webhooks, Mist repeats, bus redelivery) share it; any other difference in any field changes it.
 * One-shot `hash` costs half of a `createHash` object here.
 */
export function eventId(canonicalTopic: string, event: Record<string, unknown>): string {
  let identity = event;
  for (const flag of DELIVERY_FLAGS) {
    if (Object.hasOwn(identity, flag)) {
      if (identity === event) identity = { ...event };
      delete identity[flag];
    }
  }
  const digest = hash('sha256', `${canonicalTopic}\n${canonicalJson(identity)}`, 'hex');
  // Parsed, not sliced: a slice keeps the whole 64-character digest alive as long as the id, and
  // the dedupe window keeps 600,000 ids at 1,000 events/s.
  return JSON.parse(`"${digest.slice(0, 32)}"`) as string;
}
