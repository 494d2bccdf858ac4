import type { TopicRoute } from '../../config/file-schema';
import { publicIncident, type Incident } from '../../domain/incident';
import type { MistEvent } from '../../domain/mist-event';
import { canonicalTopic, routeFor } from '../../domain/topic';
import { toOcsf, type OcsfEvent } from '../../domain/ocsf';

export interface EnvelopeSettings {
  defaultIndex: string | null;
  routes: Readonly<Record<string, TopicRoute>>;
  /** SPLUNK_HEC_FORMAT (default cim). */
  format?: 'cim' | 'ocsf' | 'both';
  /** mistbridge's version, in OCSF's metadata.product.version. */
  version?: string;
}

/** What one event becomes in Splunk: its CIM-friendly envelope, its OCSF one (a mapped topic), or both. */
export function eventEnvelopes(event: MistEvent, settings: EnvelopeSettings): string[] {
  const format = settings.format ?? 'cim';
  const out = format === 'ocsf' ? [] : [eventEnvelope(event, settings)];
  if (format !== 'cim') {
    const ocsf = toOcsf(event, settings.version ?? '0.0.0');
    if (ocsf) out.push(ocsfEnvelope(event, ocsf, settings));
  }
  return out;
}

/** An OCSF event for HEC: sourcetype juniper:mist:ocsf, `class_uid` indexed as mb_class_uid. */
export function ocsfEnvelope(event: MistEvent, ocsf: OcsfEvent, settings: EnvelopeSettings): string {
  const index = routeFor(settings.routes, event.topic)?.index ?? settings.defaultIndex;
  return JSON.stringify({
    time: event.timestamp / 1000,
    host: event.device_name ?? event.device_mac ?? 'mist',
    source: 'mistbridge',
    sourcetype: 'juniper:mist:ocsf',
    ...(index ? { index } : {}),
    event: ocsf,
    fields: nonNull({ mb_class_uid: String(ocsf.class_uid), mb_topic: canonicalTopic(event.topic), mb_org_id: event.org_id, mb_site_id: event.site_id }),
  });
}

/**
 * CONTRACT section 5: the HEC envelope of a normalized event. `time` is epoch seconds with the
 * milliseconds as fraction (never ms integers: Splunk would file them ~47,000 years ahead).
 */
export function eventEnvelope(event: MistEvent, settings: EnvelopeSettings): string {
  const route = routeFor(settings.routes, event.topic);
  const envelope: Record<string, unknown> = {
    time: event.timestamp / 1000,
    host: event.device_name ?? event.device_mac ?? 'mist',
    source: 'mistbridge',
    sourcetype: route?.sourcetype ?? `juniper:mist:${canonicalTopic(event.topic)}`,
  };
  const index = route?.index ?? settings.defaultIndex;
  if (index) envelope.index = index;
  envelope.event = event;
  // Indexed names the JSON event never uses: a repeated name would come back multivalue
  // (`severity=medium,medium`) once search-time JSON extraction adds the event's own field.
  envelope.fields = nonNull({
    mb_topic: canonicalTopic(event.topic),
    mb_severity: event.severity,
    mb_org_id: event.org_id,
    mb_site_id: event.site_id,
  });
  return JSON.stringify(envelope);
}

/** Indexed fields must be flat strings; nulls are left out rather than sent as "null". */
export function nonNull(fields: Record<string, string | null>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(fields)) if (value !== null) out[key] = value;
  return out;
}

/** CONTRACT section 6: every incident write also goes to Splunk, timed by its `updated_at`. */
export function incidentEnvelope(incident: Incident, index: string | null): string {
  const envelope: Record<string, unknown> = {
    time: incident.updated_at / 1000,
    host: 'mist',
    source: 'mistbridge',
    sourcetype: 'juniper:mist:incident',
  };
  if (index) envelope.index = index;
  envelope.event = publicIncident(incident);
  envelope.fields = nonNull({
    mb_kind: incident.kind,
    mb_state: incident.state,
    mb_severity: incident.severity,
    mb_site_id: incident.site_id,
  });
  return JSON.stringify(envelope);
}
