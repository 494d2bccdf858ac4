import type { Identity } from './identity';

/**
 * One human-readable line per event, e.g. `Device offline: AP-Lobby (5c5b35000001) at HQ`:
 * what happened, to what, where. Never empty.
 */
export function describe(topicKey: string | null, topic: string, type: string, event: Record<string, unknown>, identity: Identity, display?: string): string {
  if (topicKey === 'zone' || topicKey === 'rssizone') return zoneLine(topicKey, event, identity);
  if (topicKey === 'occupancy-alerts') return occupancyLine(type, event);
  // `display`: the alarm's (built-in or Mist's catalogue) or a device event's from Mist's catalogue.
  const what = display ?? (topicKey === 'audits' ? (text(event.message) ?? type) : type);
  const subject = subjectOf(event, identity);
  const where = text(event.site_name) ?? text(event.site_id);
  const detail = detailOf(topicKey, event);
  let line = what;
  if (subject) line += `: ${subject}`;
  if (where) line += ` at ${where}`;
  if (detail) line += ` (${detail})`;
  return line.trim() || topic || 'mist event';
}

/** `Zone enter: ac23… (wifi) entered Lobby at HQ`: the trigger and the zone say what happened. */
function zoneLine(topicKey: string, event: Record<string, unknown>, identity: Identity): string {
  const trigger = text(event.trigger) ?? 'event';
  const who = text(event.name) ?? identity.client_mac ?? text(event.asset_id) ?? text(event.id) ?? 'a client';
  const zone = text(event.zone_name) ?? text(event.zone_id) ?? text(event.rssizone_id) ?? 'a zone';
  const kind = text(event.type);
  const verb = trigger === 'enter' ? 'entered' : trigger === 'exit' ? 'left' : trigger;
  const where = text(event.site_name) ?? text(event.site_id);
  return `${topicKey === 'rssizone' ? 'RSSI zone' : 'Zone'} ${trigger}: ${who}${kind ? ` (${kind})` : ''} ${verb} ${zone}${where ? ` at ${where}` : ''}`;
}

/** `Occupancy above the limit: Lobby at HQ (12 of 10)`. */
function occupancyLine(type: string, event: Record<string, unknown>): string {
  const what = type === 'COMPLIANCE-VIOLATION' ? 'Occupancy above the limit' : type === 'COMPLIANCE-OK' ? 'Occupancy back within the limit' : `Occupancy ${type}`;
  const zone = text(event.zone_name) ?? text(event.zone_id) ?? 'a zone';
  const where = text(event.site_name) ?? text(event.site_id);
  const counts = typeof event.current_occupancy === 'number' && typeof event.occupancy_limit === 'number' ? ` (${event.current_occupancy} of ${event.occupancy_limit})` : '';
  return `${what}: ${zone}${where ? ` at ${where}` : ''}${counts}`;
}

function subjectOf(event: Record<string, unknown>, identity: Identity): string | null {
  const devices = identity.devices;
  if (devices.length > 1) {
    const shown = devices.slice(0, 3).map((d) => (d.name ? `${d.name} (${d.mac})` : d.mac)).join(', ');
    return devices.length > 3 ? `${shown} and ${devices.length - 3} more` : shown;
  }
  const name = identity.device_name;
  const mac = identity.device_mac;
  if (name && mac) return `${name} (${mac})`;
  if (name || mac) return name ?? mac;
  return text(event.admin_name) ?? text(event.name) ?? text(event.probe_name) ?? identity.client_mac;
}

function detailOf(topicKey: string | null, event: Record<string, unknown>): string | null {
  if (topicKey === 'audits') return null;
  const reasons = Array.isArray(event.reasons) ? event.reasons.filter((r) => typeof r === 'string') : [];
  const reason = reasons.length > 0 ? reasons.join(', ') : text(event.reason);
  return reason ?? text(event.text) ?? null;
}

function text(value: unknown): string | null {
  return typeof value === 'string' && value.trim() !== '' ? value.trim() : null;
}
