import type { Severity } from '../config/file-schema';

export type IncidentKind = 'device' | 'marvis' | 'security';
export type ResolveReason = 'recovery_event' | 'mist_resolved' | 'quiet_window';

/** CONTRACT section 6; mirrors schemas/incident.avsc. */
export interface Incident {
  incident_id: string;
  key: string;
  kind: IncidentKind;
  state: 'open' | 'resolved';
  severity: Severity;
  severity_id: number;
  title: string;
  org_id: string | null;
  site_id: string | null;
  site_name: string | null;
  entities: string[];
  opened_at: number;
  updated_at: number;
  resolved_at: number | null;
  resolve_reason: ResolveReason | null;
  event_count: number;
  last_event_id: string;
  last_event_type: string;
  context: string[];
  version: number;
  device_type: string | null;
  applied_event_ids: string[];
}

/** The incident as analysts see it (API, Splunk): the bookkeeping of applied event ids stays internal. */
export function publicIncident(incident: Incident): Omit<Incident, 'applied_event_ids'> {
  const { applied_event_ids, ...rest } = incident;
  return rest;
}
