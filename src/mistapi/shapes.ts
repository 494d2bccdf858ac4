import { canonicalTopic } from '../domain/topic';
import { deviceKey, type InventoryDevice, type InventoryRecord, type InventorySite } from '../domain/inventory';
import { eventId } from '../normalizer/event-id';

/**
 * The Mist REST shapes (mist.openapi.json: `site`, `inventory`, `stats_device`,
 * `alarm_search_results`, device event search results, `response_log_search_results`) and what
 * mistbridge makes of them: inventory records, and events in webhook shape, so that a back-filled
 * alarm normalizes to the event its webhook would have given. Pure.
 */
type Json = Record<string, unknown>;

export interface RestSite {
  id: string;
  name?: string;
  org_id?: string;
}

export interface RestInventoryDevice {
  mac: string;
  name?: string | null;
  model?: string | null;
  type?: string | null;
  site_id?: string | null;
  connected?: boolean;
}

export interface RestDeviceStats {
  mac: string;
  name?: string | null;
  model?: string | null;
  type?: string | null;
  site_id?: string | null;
  status?: string;
  /** Epoch seconds. */
  last_seen?: number | null;
  /** Seconds. */
  uptime?: number | null;
}

const str = (v: unknown): string | null => (typeof v === 'string' && v !== '' ? v : null);

/**
 * The inventory of one org: its sites, and every device of the inventory merged with its status.
 * `previous` gives the consecutive disconnected checks so far (reconciliation opens at 2).
 */
export function inventoryRecords(
  orgId: string,
  sites: RestSite[],
  devices: RestInventoryDevice[],
  stats: RestDeviceStats[] | null,
  previous: (key: string) => InventoryDevice | undefined,
): InventoryRecord[] {
  const siteNames = new Map(sites.map((s) => [s.id, str(s.name)]));
  const out: InventoryRecord[] = sites.map((s): InventorySite => ({ kind: 'site', org_id: orgId, site_id: s.id, name: str(s.name) }));
  const byMac = new Map<string, RestInventoryDevice & Partial<RestDeviceStats>>();
  for (const d of devices) if (str(d.mac)) byMac.set(d.mac.toLowerCase(), d);
  for (const s of stats ?? []) if (str(s.mac)) byMac.set(s.mac.toLowerCase(), { ...byMac.get(s.mac.toLowerCase()), ...s });
  for (const [mac, d] of byMac) {
    const key = deviceKey(orgId, mac);
    const before = previous(key);
    const siteId = str(d.site_id);
    const status = stats ? statusOf(d) : before?.status ? { status: before.status, at: before.status_at } : null;
    out.push({
      kind: 'device',
      org_id: orgId,
      mac,
      name: str(d.name),
      model: str(d.model),
      type: str(d.type),
      site_id: siteId,
      site_name: siteId ? (siteNames.get(siteId) ?? null) : null,
      status: status?.status ?? null,
      status_at: status?.at ?? null,
      disconnected_checks: stats ? (status?.status === 'disconnected' ? (before?.disconnected_checks ?? 0) + 1 : 0) : (before?.disconnected_checks ?? 0),
    } as InventoryDevice);
  }
  return out;
}

/**
 * CONTRACT section 8: the status counts at the time the API gives for it, never the poll time: a
 * disconnected device since its `last_seen`, a connected one since `last_seen - uptime`.
 */
export function statusOf(stats: Partial<RestDeviceStats>): { status: 'connected' | 'disconnected'; at: number | null } | null {
  const lastSeen = typeof stats.last_seen === 'number' ? stats.last_seen : null;
  if (stats.status === 'connected') return { status: 'connected', at: lastSeen === null ? null : Math.round((lastSeen - (stats.uptime ?? 0)) * 1000) };
  if (stats.status === 'disconnected') return { status: 'disconnected', at: lastSeen === null ? null : Math.round(lastSeen * 1000) };
  return null;
}

/** REST-only fields of an alarm (acknowledgement, notes): a webhook never carries them. */
const ALARM_REST_ONLY = ['ack_admin_id', 'ack_admin_name', 'acked', 'acked_time', 'note', 'component'];

/**
 * An alarm from `/alarms/search` in webhook shape: infrastructure and security webhooks carry no
 * status; Marvis webhooks carry it at the top and in `details`.
 */
export function alarmAsWebhook(alarm: Json): Json {
  const out: Json = { ...alarm };
  for (const field of ALARM_REST_ONLY) delete out[field];
  if (out.group !== 'marvis') delete out.status;
  else if (typeof out.status === 'string') {
    const details = (out.details as Json | undefined) ?? {};
    if (details.status === undefined) out.details = { ...details, status: out.status };
  }
  return out;
}

/** A device event from `/devices/events/search` in webhook shape: `mac` and `device_type` always set. */
export function deviceEventAsWebhook(event: Json): Json {
  const out: Json = { ...event };
  const typed = (['ap', 'switch', 'gateway'] as const).find((t) => str(event[t]));
  out.mac ??= typed ? event[typed] : undefined;
  out.device_type ??= typed;
  for (const [k, v] of Object.entries(out)) if (v === undefined) delete out[k];
  return out;
}

/** What the companion recognises as already delivered (CONTRACT section 8), from a webhook-shaped event. */
export function identityOf(topic: string, event: Json): string {
  switch (canonicalTopic(topic)) {
    case 'alarms': {
      const status = str(event.status) ?? str((event.details as Json | undefined)?.status) ?? 'open';
      return `alarm:${String(event.id)}:${String(event.count ?? '')}:${String(event.last_seen ?? '')}:${status}`;
    }
    case 'audits':
      return `audit:${String(event.id)}`;
    case 'device-events':
      return `device-event:${String(event.type)}:${String(event.mac ?? '')}:${String(event.timestamp ?? '')}`;
    default:
      return `event:${eventId(canonicalTopic(topic), event)}`;
  }
}

