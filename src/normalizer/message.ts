import { ALARM_DEFS } from './alarm-defs';
import type { Identity } from './identity';
import { own } from '../shared/own';

/**
 * One human-readable line per event, e.g. `Device offline: AP-Lobby (5c5b35000001) at HQ`:
 * what happened, to what, where. Never empty.
 */
export function describe(topicKey: string | null, topic: string, type: string, event: Record<string, unknown>, identity: Identity): string {
  const what =
    topicKey === 'alarms' ? (own(ALARM_DEFS, type.toLowerCase())?.display ?? type) : topicKey === 'audits' ? (text(event.message) ?? type) : type;
  const subject = subjectOf(event, identity);
  const where = text(event.site_name) ?? text(event.site_id);
  const detail = detailOf(topicKey, event);
  let line = what;
  if (subject) line += `: ${subject}`;
  if (where) line += ` at ${where}`;
  if (detail) line += ` (${detail})`;
  return line.trim() || topic || 'mist event';
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
