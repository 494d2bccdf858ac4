import { createHash } from 'node:crypto';
import type { Severity } from '../config/file-schema';
import type { MistEvent } from '../normalizer/mist-event';
import { SEVERITY_IDS } from '../normalizer/severity';
import type { Incident, IncidentKind, ResolveReason } from './incident';
import type { CorrelationRules } from './rules';

const MAX_APPLIED_IDS = 64;
const MAX_ENTITIES = 100;
const MAX_CONTEXT = 50;

/** What one event does to one incident key. */
interface Touch {
  kind: IncidentKind;
  key: string;
  action: 'open' | 'resolve' | 'annotate';
  reason: ResolveReason;
  entities: string[];
  deviceType: string | null;
  title: string;
}

/**
 * The correlator's whole logic (CONTRACT section 6): given the current incident of each key and one
 * normalized event, the incident versions the event produces, in order. Pure: time comes from the
 * event, state from `current`, and inputs are never mutated.
 */
export function reduce(current: (key: string) => Incident | undefined, event: MistEvent, rules: CorrelationRules): Incident[] {
  const writes: Incident[] = [];
  // An event touches each key at most once (devices are unique per event).
  for (const touch of touchesOf(event, rules)) writes.push(...applyTouch(current(touch.key), touch, event, rules));
  return writes;
}

/** Open security incidents past their quiet window resolve; resolved incidents past retention are forgotten. */
export function sweep(incidents: Iterable<Incident>, nowMs: number, rules: CorrelationRules): { writes: Incident[]; tombstones: string[] } {
  const writes: Incident[] = [];
  const tombstones: string[] = [];
  for (const incident of incidents) {
    if (incident.state === 'open' && incident.kind === 'security' && incident.updated_at + rules.securityQuietWindowMs <= nowMs) {
      writes.push(quietResolve(incident, rules));
    } else if (incident.state === 'resolved' && (incident.resolved_at ?? incident.updated_at) + rules.retentionMs <= nowMs) {
      tombstones.push(incident.key);
    }
  }
  return { writes, tombstones };
}

export function incidentId(key: string, openedAt: number): string {
  return createHash('sha256').update(`${key}${openedAt}`).digest('hex').slice(0, 32);
}

function touchesOf(event: MistEvent, rules: CorrelationRules): Touch[] {
  const org = event.org_id ?? '';
  const group = event.category.toLowerCase();
  const alarm = event.topic === 'alarms';
  if (alarm && rules.securityGroups.has(group)) {
    if (!event.site_id) return [];
    return [
      {
        kind: 'security',
        key: `security:${org}:${event.site_id}`,
        action: 'open',
        reason: 'quiet_window',
        entities: securityEntities(event),
        deviceType: null,
        title: `Security alarms at ${event.site_name ?? event.site_id}`,
      },
    ];
  }
  if (alarm && rules.marvisGroups.has(group)) {
    const key = event.mist_id ? `marvis:${org}:${event.mist_id}` : `marvis:${org}:${event.site_id ?? ''}:${event.type}`;
    return [
      {
        kind: 'marvis',
        key,
        action: event.state === 'resolved' ? 'resolve' : 'open',
        reason: 'mist_resolved',
        entities: event.devices.map((d) => d.mac),
        deviceType: null,
        title: `Marvis: ${event.message}`,
      },
    ];
  }
  const action = rules.deviceOpen(event.type) ? 'open' : rules.deviceResolve(event.type) ? 'resolve' : rules.deviceAnnotate(event.type) ? 'annotate' : null;
  if (!action) return [];
  return event.devices
    .filter((d) => d.type === 'ap' || d.type === 'switch' || d.type === 'gateway')
    .map((device) => ({
      kind: 'device' as const,
      key: `device:${org}:${device.mac}`,
      action,
      reason: 'recovery_event' as const,
      entities: [device.mac],
      deviceType: device.type,
      title: `${DEVICE_LABELS[device.type]} ${device.name ? `${device.name} (${device.mac})` : device.mac} offline${event.site_name ? ` at ${event.site_name}` : ''}`,
    }));
}

const DEVICE_LABELS: Record<string, string> = { ap: 'AP', switch: 'Switch', gateway: 'Gateway' };

function applyTouch(base: Incident | undefined, touch: Touch, event: MistEvent, rules: CorrelationRules): Incident[] {
  const t = event.timestamp;
  if (base?.applied_event_ids.includes(event.event_id)) return [];
  const writes: Incident[] = [];

  if (touch.action === 'open') {
    // A security incident whose quiet window passed before this alarm was resolved at that moment,
    // whether or not a sweep ran: replay gives the same history.
    if (base?.state === 'open' && touch.kind === 'security' && t >= base.updated_at + rules.securityQuietWindowMs) {
      base = quietResolve(base, rules);
      writes.push(base);
    }
    if (!base || base.state === 'resolved') {
      const stale = base !== undefined && (t < (base.resolved_at ?? base.updated_at) || t === base.opened_at);
      if (stale) return writes;
      writes.push(opened(touch, event, base));
      return writes;
    }
    if (t < base.opened_at) return writes; // older than the event that opened it
    writes.push({
      ...touched(base, event),
      severity: maxSeverity(base.severity, event.severity),
      severity_id: Math.max(base.severity_id, event.severity_id),
      entities: union(base.entities, touch.entities, MAX_ENTITIES),
    });
    return writes;
  }

  if (!base || base.state === 'resolved' || t < base.opened_at) return writes; // nothing open, or a stale event
  if (touch.action === 'resolve') {
    writes.push({ ...touched(base, event), state: 'resolved', resolved_at: t, resolve_reason: touch.reason });
  } else {
    writes.push({ ...touched(base, event), context: union(base.context, event.reasons, MAX_CONTEXT) });
  }
  return writes;
}

function opened(touch: Touch, event: MistEvent, previous: Incident | undefined): Incident {
  return {
    incident_id: incidentId(touch.key, event.timestamp),
    key: touch.key,
    kind: touch.kind,
    state: 'open',
    severity: event.severity,
    severity_id: event.severity_id,
    title: touch.title,
    org_id: event.org_id,
    site_id: event.site_id,
    site_name: event.site_name,
    entities: union([], touch.entities, MAX_ENTITIES),
    opened_at: event.timestamp,
    updated_at: event.timestamp,
    resolved_at: null,
    resolve_reason: null,
    event_count: 1,
    last_event_id: event.event_id,
    last_event_type: event.type,
    context: touch.kind === 'device' ? [] : union([], event.reasons, MAX_CONTEXT),
    version: (previous?.version ?? 0) + 1,
    device_type: touch.deviceType,
    applied_event_ids: [event.event_id],
  };
}

/** The fields every applied event changes. */
function touched(base: Incident, event: MistEvent): Incident {
  return {
    ...base,
    updated_at: Math.max(base.updated_at, event.timestamp),
    event_count: base.event_count + 1,
    last_event_id: event.event_id,
    last_event_type: event.type,
    site_name: base.site_name ?? event.site_name,
    version: base.version + 1,
    applied_event_ids: [...base.applied_event_ids, event.event_id].slice(-MAX_APPLIED_IDS),
  };
}

function quietResolve(incident: Incident, rules: CorrelationRules): Incident {
  return {
    ...incident,
    state: 'resolved',
    resolved_at: incident.updated_at + rules.securityQuietWindowMs,
    resolve_reason: 'quiet_window',
    version: incident.version + 1,
  };
}

/** Reporting AP MACs, BSSIDs and client MACs (CONTRACT section 6, rule 3). */
function securityEntities(event: MistEvent): string[] {
  const entities = event.devices.map((d) => d.mac);
  for (const field of ['bssids', 'client_macs', 'client_mac1', 'client_mac2']) {
    const raw = event.attributes[field];
    if (raw === undefined) continue;
    try {
      const parsed: unknown = raw.startsWith('[') ? JSON.parse(raw) : [raw];
      if (Array.isArray(parsed)) for (const v of parsed) if (typeof v === 'string') entities.push(v.toLowerCase().replace(/[:.-]/g, ''));
    } catch {
      // not JSON: nothing to add
    }
  }
  return entities;
}

function union(existing: readonly string[], added: readonly string[], cap: number): string[] {
  const out = [...existing];
  for (const value of added) if (!out.includes(value)) out.push(value);
  return out.slice(0, cap);
}

function maxSeverity(a: Severity, b: Severity): Severity {
  return SEVERITY_IDS[a] >= SEVERITY_IDS[b] ? a : b;
}
