import type { Incident } from '../domain/incident';
import type { MistEvent } from '../domain/mist-event';
import { canonicalTopic } from '../domain/topic';
import { SEVERITY_IDS } from '../normalizer/severity';
import type { Severity } from '../config/file-schema';

/** What `mistbridge tail` shows (CONTRACT section 1). */
export interface TailFilter {
  /** Either spelling. */
  topic?: string;
  /** `site_id` or `site_name`. */
  site?: string;
  /** This severity and above. */
  severity?: Severity;
  incidents?: boolean;
}

export function showsEvent(filter: TailFilter, event: MistEvent): boolean {
  return (
    (filter.topic === undefined || canonicalTopic(event.topic) === canonicalTopic(filter.topic)) &&
    (filter.site === undefined || event.site_id === filter.site || event.site_name === filter.site) &&
    (filter.severity === undefined || SEVERITY_IDS[event.severity] >= SEVERITY_IDS[filter.severity])
  );
}

export function showsIncident(filter: TailFilter, incident: Incident): boolean {
  return (
    filter.incidents === true &&
    (filter.site === undefined || incident.site_id === filter.site || incident.site_name === filter.site) &&
    (filter.severity === undefined || SEVERITY_IDS[incident.severity] >= SEVERITY_IDS[filter.severity])
  );
}

/** The filter from query parameters or flags; a problem names the parameter. */
export function parseFilter(values: { topic?: unknown; site?: unknown; severity?: unknown; incidents?: unknown }): TailFilter | { problem: string } {
  const text = (v: unknown): string | undefined => (typeof v === 'string' && v.trim() !== '' ? v.trim() : undefined);
  const severity = text(values.severity)?.toLowerCase();
  if (severity !== undefined && !Object.hasOwn(SEVERITY_IDS, severity)) return { problem: 'severity must be critical, high, medium, low or informational' };
  return {
    ...(text(values.topic) ? { topic: text(values.topic) } : {}),
    ...(text(values.site) ? { site: text(values.site) } : {}),
    ...(severity ? { severity: severity as Severity } : {}),
    ...(values.incidents === true || values.incidents === 'true' || values.incidents === '1' ? { incidents: true } : {}),
  };
}
