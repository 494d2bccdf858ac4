import { createHash } from 'node:crypto';
import type { Severity } from '../config/file-schema';
import type { MistEvent } from '../domain/mist-event';
import { SEVERITY_IDS } from '../normalizer/severity';
import type { Incident, IncidentKind, Recovery, ResolveReason } from '../domain/incident';
import type { InventoryDevice } from '../domain/inventory';
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

/** What the reducer reads: the current incident and the latest remembered recovery of each key. */
export interface CorrelatorView {
  incident(key: string): Incident | undefined;
  recovery(key: string): Recovery | undefined;
}

/** What one event changes: new incident versions and recoveries to remember, in order. */
export interface Reduced {
  incidents: Incident[];
  recoveries: Recovery[];
}

/**
 * The correlator's whole logic (CONTRACT section 6): given the current state of each key and one
 * normalized event, what the event changes. Pure: time comes from the event, state from `view`,
 * and inputs are never mutated.
 */
export function reduce(view: CorrelatorView, event: MistEvent, rules: CorrelationRules): Reduced {
  const out: Reduced = { incidents: [], recoveries: [] };
  // An event touches each key at most once (devices are unique per event).
  for (const touch of touchesOf(event, rules)) applyTouch(view.incident(touch.key), view.recovery(touch.key), touch, event, rules, out);
  return out;
}

/**
 * Open security incidents past their quiet window resolve; resolved incidents and remembered
 * recoveries past retention are forgotten (`tombstones`, `forgotten`).
 */
export function sweep(
  incidents: Iterable<Incident>,
  nowMs: number,
  rules: CorrelationRules,
  recoveries: Iterable<Recovery> = [],
): { writes: Incident[]; tombstones: string[]; forgotten: string[] } {
  const writes: Incident[] = [];
  const tombstones: string[] = [];
  for (const incident of incidents) {
    if (incident.state === 'open' && incident.kind === 'security' && incident.updated_at + rules.securityQuietWindowMs <= nowMs) {
      writes.push(quietResolve(incident, rules));
    } else if (incident.state === 'resolved' && (incident.resolved_at ?? incident.updated_at) + rules.retentionMs <= nowMs) {
      tombstones.push(incident.key);
    }
  }
  const forgotten = [...recoveries].filter((r) => r.at + rules.retentionMs <= nowMs).map((r) => r.key);
  return { writes, tombstones, forgotten };
}

/**
 * CONTRACT section 8, reconciliation with the Mist API's device status, at the time the API gives
 * for it: an open device incident whose device has been connected since after the event that
 * opened it resolves (`reconciled`); a device found disconnected on two consecutive checks, with
 * nothing open and nothing newer seen, gets an incident (`opened by reconciliation`).
 */
export function reconcile(view: CorrelatorView, device: InventoryDevice): Reduced {
  const out: Reduced = { incidents: [], recoveries: [] };
  if (device.status === null || device.status_at === null || !device.type || !(device.type in DEVICE_LABELS)) return out;
  const key = `device:${device.org_id}:${device.mac}`;
  const base = view.incident(key);
  const at = device.status_at;
  if (device.status === 'connected') {
    if (base?.state === 'open' && at > base.opened_at) {
      out.incidents.push({ ...base, state: 'resolved', resolved_at: at, resolve_reason: 'reconciled', updated_at: Math.max(base.updated_at, at), version: base.version + 1 });
    }
    return out;
  }
  const newer = (base && at <= Math.max(base.updated_at, base.resolved_at ?? 0)) || (view.recovery(key)?.at ?? -1) >= at;
  if (device.disconnected_checks < 2 || base?.state === 'open' || newer) return out;
  const label = DEVICE_LABELS[device.type]!;
  out.incidents.push({
    incident_id: incidentId(key, at),
    key,
    kind: 'device',
    state: 'open',
    severity: 'medium',
    severity_id: SEVERITY_IDS.medium,
    title: `${label} ${device.name ? `${device.name} (${device.mac})` : device.mac} offline${device.site_name ? ` at ${device.site_name}` : ''}`,
    org_id: device.org_id,
    site_id: device.site_id,
    site_name: device.site_name,
    entities: [device.mac],
    opened_at: at,
    updated_at: at,
    resolved_at: null,
    resolve_reason: null,
    event_count: 0,
    // No event opened it: the Mist API's status did.
    last_event_id: '',
    last_event_type: 'reconciliation',
    context: ['opened by reconciliation'],
    version: (base?.version ?? 0) + 1,
    device_type: device.type,
    applied_event_ids: [],
  });
  return out;
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

function applyTouch(base: Incident | undefined, recovered: Recovery | undefined, touch: Touch, event: MistEvent, rules: CorrelationRules, out: Reduced): void {
  const t = event.timestamp;
  if (base?.applied_event_ids.includes(event.event_id)) return;
  const writes = out.incidents;

  if (touch.action === 'open') {
    // A security incident whose quiet window passed before this alarm was resolved at that moment,
    // whether or not a sweep ran: replay gives the same history.
    if (base?.state === 'open' && touch.kind === 'security' && t >= base.updated_at + rules.securityQuietWindowMs) {
      base = quietResolve(base, rules);
      writes.push(base);
    }
    if (!base || base.state === 'resolved') {
      const stale =
        (base !== undefined && (t < (base.resolved_at ?? base.updated_at) || t === base.opened_at)) ||
        // A down that happened before a recovery already seen (out-of-order delivery) is over.
        (recovered !== undefined && t < recovered.at);
      if (!stale) writes.push(opened(touch, event, base));
      return;
    }
    if (t < base.opened_at) return; // older than the event that opened it
    writes.push({
      ...touched(base, event),
      severity: maxSeverity(base.severity, event.severity),
      severity_id: Math.max(base.severity_id, event.severity_id),
      entities: union(base.entities, touch.entities, MAX_ENTITIES),
    });
    return;
  }

  if (touch.action === 'resolve' && (!base || base.state === 'resolved')) {
    // A recovery with nothing open to resolve is remembered (rule 4): the down it recovers from
    // may still arrive, late, and must then change nothing.
    const newer = (recovered === undefined || t > recovered.at) && (base?.resolved_at === undefined || base.resolved_at === null || t > base.resolved_at);
    if (newer) out.recoveries.push({ key: touch.key, at: t, org_id: event.org_id, site_id: event.site_id, event_id: event.event_id });
    return;
  }
  if (!base || base.state === 'resolved' || t < base.opened_at) return; // nothing open, or a stale event
  if (touch.action === 'resolve') {
    writes.push({ ...touched(base, event), state: 'resolved', resolved_at: t, resolve_reason: touch.reason });
  } else {
    writes.push({ ...touched(base, event), context: union(base.context, event.reasons, MAX_CONTEXT) });
  }
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
