import type { Incident } from '../domain/incident';

/**
 * Which incident versions go out to Splunk and notify (CONTRACT section 10): the compacted state is
 * written per batch as ever, but a version that changes only counters (`event_count`, `updated_at`,
 * `last_event_id`, `last_event_type`, the applied ids) goes out at most once per incident per
 * INCIDENT_UPDATE_MIN_S; the others are written `quiet` (the bus' OUTPUT_HEADER) and the latest is
 * published later by a timer. An open, a resolve and any change of state, severity, title, entities
 * or context goes out at once. Pure.
 */

/** What makes a version worth telling at once (everything but the counters). */
function significant(incident: Incident): string {
  const { incident_id, state, severity, title, entities, context, resolved_at, resolve_reason, site_name } = incident;
  return JSON.stringify([incident_id, state, severity, title, entities, context, resolved_at, resolve_reason, site_name]);
}

/**
 * `now`: publish this version; `quiet`: write it as state only (a later flush publishes the latest).
 * `published`: the version last published for the key and when (by the correlator's clock).
 */
export function outputOf(next: Incident, published: { incident: Incident; at: number } | undefined, now: number, minMs: number): 'now' | 'quiet' {
  if (!published || significant(published.incident) !== significant(next)) return 'now';
  return now - published.at >= minMs ? 'now' : 'quiet';
}

/** A batch's writes with each counter-only update folded into the write of the same key before it. */
export function coalesceCounters(writes: readonly Incident[]): Incident[] {
  const out: Incident[] = [];
  const lastOf = new Map<string, number>();
  for (const write of writes) {
    const at = lastOf.get(write.key);
    if (at !== undefined && significant(out[at]!) === significant(write)) out[at] = write;
    else {
      lastOf.set(write.key, out.length);
      out.push(write);
    }
  }
  return out;
}
