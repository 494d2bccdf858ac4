import type { Device } from '../domain/mist-event';
import { macFromDeviceId, normalizeMac } from '../shared/mac';
import { own } from '../shared/own';

export interface Identity {
  device_mac: string | null;
  device_type: string | null;
  device_name: string | null;
  devices: Device[];
  client_mac: string | null;
}

/** Alarm entity lists and the device type each names (TOPICS.md section 7; `disconnected_aps` from real captures). */
const ALARM_LISTS: ReadonlyArray<[string, string]> = [
  ['aps', 'ap'],
  ['disconnected_aps', 'ap'],
  ['switches', 'switch'],
  ['gateways', 'gateway'],
];
const DEVICE_TYPES = new Set(['ap', 'switch', 'gateway', 'mxedge']);
const TYPE_PREFIXES: Readonly<Record<string, string>> = { AP: 'ap', SW: 'switch', GW: 'gateway', ME: 'mxedge', TT: 'mxedge' };
/** Marvis `impacted_entities[]` fields that name a device, and its type. */
const ENTITY_MACS: ReadonlyArray<[string, string | null]> = [
  ['entity_mac', null],
  ['connected_switch_mac', 'switch'],
  ['switch_mac', 'switch'],
  ['gateway_mac', 'gateway'],
  ['ap_mac', 'ap'],
];
/** Topics whose `device_id` is the AP that reported what the event is about (BLE and Wi-Fi RSSI). */
const REPORTING_AP_TOPICS = new Set(['asset-raw', 'asset-raw-rssi', 'discovered-raw-rssi', 'filtered-asset-rssi']);
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
  if (topicKey === 'mxedge-events') return mistEdge(event);
  const devices = topicKey === 'alarms' ? alarmDevices(event) : otherDevices(event, topicKey);
  const primary = devices[0];
  const clientField = topicKey ? CLIENT_FIELD[topicKey] : undefined;
  // A device the event names whose type it does not say (an audit's device_id, an other-device MAC): its MAC, no guessed type.
  const untyped = primary ? null : untypedDevice(event, topicKey);
  return {
    device_mac: primary?.mac ?? untyped,
    device_type: primary?.type ?? null,
    device_name: primary?.name ?? (untyped ? (str(event.device_name) ?? null) : null),
    devices,
    client_mac: clientField ? normalizeMac(event[clientField]) : (topicKey === 'zone' || topicKey === 'rssizone' ? normalizeMac(event.mac) : null),
  };
}

/**
 * Mist Edge events: the Mist Edge itself, from `mxedge_id` (`00000000-0000-0000-1000-<mac>`, or a
 * plain UUID without a MAC). Never an AP, whatever else the event carries.
 */
function mistEdge(event: Record<string, unknown>): Identity {
  const mac = macFromDeviceId(event.mxedge_id) ?? (typeof event.mxedge_id === 'string' ? null : normalizeMac(event.mac));
  const name = str(event.mxedge_name);
  const devices: Device[] = mac ? [{ mac, type: 'mxedge', name }] : [];
  // TT_AP_DISCONNECTED names the APs whose tunnels dropped: `disconnected_aps`, MACs joined by dashes (or a list).
  const aps = typeof event.disconnected_aps === 'string' ? event.disconnected_aps.split(/[-,\s]+/) : Array.isArray(event.disconnected_aps) ? event.disconnected_aps : [];
  for (const ap of aps) add(devices, normalizeMac(ap), 'ap', null);
  return {
    device_mac: mac,
    device_type: 'mxedge',
    device_name: name,
    devices,
    client_mac: null,
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
      for (const [field, fixedType] of ENTITY_MACS) {
        const type = fixedType ?? knownType(e.entity_type);
        if (type) add(devices, normalizeMac(e[field]), type, field === 'entity_mac' ? str(e.entity_name) : null);
      }
    }
  }
  if (devices.length === 1 && devices[0]!.name === null && hostnames.length === 1) devices[0]!.name = hostnames[0]!;
  return devices;
}

function otherDevices(event: Record<string, unknown>, topicKey: string | null): Device[] {
  const devices: Device[] = [];
  const type = knownType(event.device_type) ?? typeFromEventType(event.type);
  const name = str(event.device_name) ?? str(event.ap_name);
  if (topicKey === 'device-events' || topicKey === 'device-updowns') {
    add(devices, normalizeMac(event.mac) ?? normalizeMac(event.ap), type ?? (event.ap !== undefined ? 'ap' : null), name);
  } else if (topicKey === null) {
    // Unknown topic: `mac` names a device only when the event says it is one; `ap` always does.
    if (knownType(event.device_type)) add(devices, normalizeMac(event.mac), type, name);
    add(devices, normalizeMac(event.ap), 'ap', str(event.ap_name));
  } else if (topicKey === 'nac-events' || topicKey === 'nac-accounting') {
    add(devices, normalizeMac(event.ap), 'ap', null);
    add(devices, normalizeMac(event.device_mac), event.client_type === 'wired' ? 'switch' : null, null);
  } else if (topicKey.startsWith('minis-')) {
    add(devices, normalizeMac(event.device_mac), 'ap', null);
  } else if (topicKey === 'wifi-conn-raw' || topicKey === 'wifi-unconn-raw') {
    add(devices, normalizeMac(event.ap_id), 'ap', null);
  } else {
    add(devices, normalizeMac(event.ap), 'ap', name);
    // `device_id` embeds a MAC; its type is the event's to say (an audit of a switch), except where
    // the topic defines it (the AP that heard a BLE beacon). Never a guessed AP.
    const fromId = macFromDeviceId(event.device_id);
    add(devices, fromId, REPORTING_AP_TOPICS.has(topicKey) ? 'ap' : knownType(event.device_type), name);
  }
  return devices;
}

/**
 * A device an event names without saying what it is: an audit's `device_id`, or an "other device"
 * (`CELLULAR_EDGE_*`: `mac` is the cellular edge, `device_mac` the Mist device it hangs off).
 */
function untypedDevice(event: Record<string, unknown>, topicKey: string | null): string | null {
  if (topicKey === 'device-events' || topicKey === 'device-updowns' || topicKey === null) {
    return typeof event.type === 'string' && event.type.startsWith('CELLULAR_EDGE_') ? normalizeMac(event.mac) : null;
  }
  if (topicKey === 'audits') return macFromDeviceId(event.device_id);
  return null;
}

/** `device_type` when it is one of the contract's types (`unknown`, placeholders and other words are not). */
function knownType(value: unknown): string | null {
  return typeof value === 'string' && DEVICE_TYPES.has(value.toLowerCase()) ? value.toLowerCase() : null;
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
