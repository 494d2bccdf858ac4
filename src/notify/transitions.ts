import type { NotifyDestination } from '../config/config';
import { SEVERITIES } from '../config/file-schema';
import type { Incident } from '../domain/incident';

/** What a message tells: an incident opened, or resolved (`openedToo`: it opened within the same window). */
export interface Transition {
  transition: 'opened' | 'resolved';
  incident: Incident;
  openedToo: boolean;
}

/** What a key's last notified write was: enough to tell a new incident and a resolution from an update. */
export type SeenIncident = Pick<Incident, 'incident_id' | 'state' | 'version'>;
export type Seen = Pick<Map<string, SeenIncident>, 'get' | 'set'>;

export const seenOf = (incident: Incident): SeenIncident => ({ incident_id: incident.incident_id, state: incident.state, version: incident.version });

/**
 * The transitions a batch of incident writes makes, in order, collapsed per incident: an incident
 * that opened and resolved within the batch (the grouping window) is one `resolved`. Versions
 * only grow per incident, so a redelivered or older write changes nothing. Updates (a new event on an
 * open incident) are not transitions.
 */
export function transitionsOf(writes: Incident[], seen: Seen): Transition[] {
  const out = new Map<string, Transition>();
  for (const incident of writes) {
    const before = seen.get(incident.key);
    // Versions are compared within one incident: a key forgotten (its tombstone compacted away
    // before this destination read it) starts its next incident at version 1.
    if (before && before.incident_id === incident.incident_id && before.version >= incident.version) continue;
    seen.set(incident.key, seenOf(incident));
    const isNew = before?.incident_id !== incident.incident_id;
    const id = incident.incident_id;
    // An incident not seen before is announced, even from a later update: its opening may never
    // have been told (compaction keeps only the latest version). At-least-once: after a crash an
    // opening already told may be told again.
    if (incident.state === 'open' && isNew) out.set(id, { transition: 'opened', incident, openedToo: false });
    else if (incident.state === 'resolved' && (isNew || before?.state === 'open')) {
      const opened = out.get(id);
      out.set(id, { transition: 'resolved', incident, openedToo: opened !== undefined || isNew });
    } else if (out.has(id)) out.set(id, { ...out.get(id)!, incident });
  }
  return [...out.values()];
}

/**
 * Transitions of several batches that go out as one message (a group window): per incident, the
 * highest version says it, and a resolution with an opening beside it is one `resolved` that opened
 * too. By version, not arrival: a redriven opening can arrive after its incident's resolution, and
 * must not replace it (the resolution, committed with it, would never be told).
 */
export function mergeTransitions(transitions: readonly Transition[]): Transition[] {
  const out = new Map<string, Transition>();
  for (const t of transitions) {
    const before = out.get(t.incident.incident_id);
    if (!before) {
      out.set(t.incident.incident_id, t);
      continue;
    }
    const [older, newer] = before.incident.version > t.incident.version ? [t, before] : [before, t];
    out.set(t.incident.incident_id, newer.transition === 'resolved' ? { ...newer, openedToo: newer.openedToo || older.transition === 'opened' || older.openedToo } : newer);
  }
  return [...out.values()];
}

/** A redriven message: sent again whatever was sent before (it was refused then). */
export function forcedTransition(incident: Incident): Transition {
  return { transition: incident.state === 'open' ? 'opened' : 'resolved', incident, openedToo: false };
}

const RANK = Object.fromEntries(SEVERITIES.map((s, i) => [s, SEVERITIES.length - i]));

/** The destination's filters: minimum severity, sites (id or name), alarm types, kinds. */
export function wanted(destination: NotifyDestination, t: Transition): boolean {
  const { incident } = t;
  if (RANK[incident.severity]! < RANK[destination.minSeverity]!) return false;
  if (destination.kinds && !destination.kinds.includes(incident.kind)) return false;
  if (destination.sites && !destination.sites.some((s) => s === incident.site_id || s === incident.site_name)) return false;
  if (destination.alarmTypes && !destination.alarmTypes.includes(incident.last_event_type)) return false;
  return true;
}
