import type { Severity } from '../config/file-schema';
import { AvroCodec } from '../shared/avro';

export const INCIDENT_KINDS = ['device', 'marvis', 'security'] as const;
export type IncidentKind = (typeof INCIDENT_KINDS)[number];
export type ResolveReason = 'recovery_event' | 'mist_resolved' | 'quiet_window' | 'reconciled';

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

/**
 * A recovery that resolved nothing (it arrived before the down it recovers from, or after the
 * incident was already resolved), remembered for INCIDENT_RETENTION_S in the compacted
 * `mist.recoveries` topic so that the late down changes nothing (CONTRACT section 6, rule 4).
 */
export interface Recovery {
  key: string;
  /** Event time of the recovery, epoch ms. */
  at: number;
  org_id: string | null;
  site_id: string | null;
  event_id: string;
}

export const incidentCodec = (): AvroCodec<Incident> => new AvroCodec<Incident>('incident.avsc');

/** Recoveries are internal state, small and read only by the correlator: JSON. */
export const recoveryCodec = () => ({
  encode: (recovery: Recovery): Buffer => Buffer.from(JSON.stringify(recovery)),
  decode: (value: Buffer): Recovery => JSON.parse(value.toString('utf8')) as Recovery,
});
