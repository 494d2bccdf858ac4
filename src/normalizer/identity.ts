import { macFromDeviceId, normalizeMac } from '../shared/mac';
import { own } from '../shared/own';
import type { Device } from '../domain/mist-event';


export interface Identity {
  device_mac: string | null;
  device_type: string | null;
  device_name: string | null;
  devices: Device[];
  client_mac: string | null;
}

const ALARM_LISTS: ReadonlyArray<[string, string]> = [
  ['aps', 'ap'],
  ['switches', 'switch'],
  ['gateways', 'gateway'],
];
const DEVICE_TYPES = new Set(['ap', 'switch', 'gateway', 'mxedge']);
const TYPE_PREFIXES: Readonly<Record<string, string>> = { AP: 'ap', SW: 'switch', GW: 'gateway', ME: 'mxedge', TT: 'mxedge' };
const CLIENT_FIELD: Readonly<Record<string, string>> = {
  'client-join': 'mac',
  'client-sessions': 'mac',
  'client-info': 'mac',
  'nac-events': 'mac',
  'nac-accounting': 'mac',
  'guest-authorizations': 'client',
  'wifi-conn-raw': 'client_id',
  'wifi-unconn-raw': 'client_id',
  'location-client': 'mac',
  'location-unclient': 'mac',
  'sdkclient-scan-data': 'mac',
};

/** Which devices (and which client) an event is about, per topic (TOPICS.md section 7 identity column). */
export function identify(event: Record<string, unknown>, topicKey: string | null): Identity {
  const devices = topicKey === 'alarms' ? alarmDevices(event) : otherDevices(event, topicKey);
  const primary = devices[0];
  const clientField = topicKey ? CLIENT_FIELD[topicKey] : undefined;
  return {
    device_mac: primary?.mac ?? null,
    device_type: primary?.type ?? (topicKey === 'mxedge-events' ? 'mxedge' : null),
    device_name: primary?.name ?? str(event.mxedge_name) ?? null,
    devices,
    client_mac: clientField ? normalizeMac(event[clientField]) : null,
  };
}

function alarmDevices(event: Record<string, unknown>): Device[] {
  const devices: Device[] = [];
  const hostnames = strings(event.hostnames);
  const lists = ALARM_LISTS.map(([field, type]) => [strings(event[field]), type] as const).filter(([macs]) => macs.length > 0);
  // `hostnames` parallels the device list only when there is a single list of the same length (TOPICS.md: "not guaranteed aligned").
  const named = lists.length === 1 && lists[0]![0].length === hostnames.length;
  for (const [macs, type] of lists) {
    macs.forEach((mac, i) => add(devices, normalizeMac(mac), type, named ? hostnames[i] : null));
  }
  if (Array.isArray(event.impacted_entities)) {
    for (const entity of event.impacted_entities) {
      if (!entity || typeof entity !== 'object') continue;
      const e = entity as Record<string, unknown>;
      const type = str(e.entity_type);
      if (type && DEVICE_TYPES.has(type)) add(devices, normalizeMac(e.entity_mac), type, str(e.entity_name));
    }
  }
  if (devices.length === 1 && devices[0]!.name === null && hostnames.length === 1) devices[0]!.name = hostnames[0]!;
  return devices;
}

function otherDevices(event: Record<string, unknown>, topicKey: string | null): Device[] {
  const devices: Device[] = [];
  const type = str(event.device_type) ?? typeFromEventType(event.type);
  const name = str(event.device_name) ?? str(event.ap_name);
  if (topicKey === 'device-events' || topicKey === 'device-updowns') {
    add(devices, normalizeMac(event.mac) ?? normalizeMac(event.ap), type ?? (event.ap !== undefined ? 'ap' : null), name);
  } else if (topicKey === null) {
    // Unknown topic: `mac` names a device only when the event says it is one; `ap` always does.
    if (str(event.device_type)) add(devices, normalizeMac(event.mac), type, name);
    add(devices, normalizeMac(event.ap), 'ap', str(event.ap_name));
  } else if (topicKey === 'nac-events' || topicKey === 'nac-accounting') {
    add(devices, normalizeMac(event.ap), 'ap', null);
    add(devices, normalizeMac(event.device_mac), event.client_type === 'wired' ? 'switch' : null, null);
  } else if (topicKey.startsWith('minis-')) {
    add(devices, normalizeMac(event.device_mac), 'ap', null);
  } else if (topicKey === 'wifi-conn-raw' || topicKey === 'wifi-unconn-raw') {
    add(devices, normalizeMac(event.ap_id), 'ap', null);
  } else {
    add(devices, normalizeMac(event.ap) ?? macFromDeviceId(event.device_id), 'ap', name);
  }
  return devices;
}

function typeFromEventType(type: unknown): string | null {
  if (typeof type !== 'string') return null;
  return own(TYPE_PREFIXES, type.split('_')[0] ?? '') ?? null;
}

function add(devices: Device[], mac: string | null, type: string | null, name: string | null | undefined): void {
  if (!mac || !type || devices.some((d) => d.mac === mac)) return;
  devices.push({ mac, type, name: name ?? null });
}

function str(value: unknown): string | null {
  return typeof value === 'string' && value.trim() !== '' ? value : null;
}

function strings(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}
