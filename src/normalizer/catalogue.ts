import { ALARM_DEFS } from './alarm-defs';
import { KNOWN_EVENT_TYPES } from './event-types';

export type Category = 'infrastructure' | 'marvis' | 'security' | 'device' | 'client' | 'audit' | 'location' | 'nac' | 'mxedge' | 'sle' | 'ping' | 'other';

/**
 * Every webhook topic in Mist's catalogue (TOPICS.md section 7) and its category. Keys use hyphens;
 * spec examples spell some with underscores (`location_asset`, `site_sle`), so lookups fold `_` to `-`.
 */
const TOPIC_CATEGORIES: Readonly<Record<string, Category>> = {
  alarms: 'infrastructure',
  audits: 'audit',
  'client-join': 'client',
  'client-sessions': 'client',
  'client-info': 'client',
  'client-latency': 'client',
  'guest-authorizations': 'client',
  'device-events': 'device',
  'device-updowns': 'device',
  'mxedge-events': 'mxedge',
  'nac-events': 'nac',
  'nac-accounting': 'nac',
  'site-sle': 'sle',
  'minis-application': 'sle',
  'minis-reachability': 'sle',
  'minis-network': 'sle',
  location: 'location',
  'location-asset': 'location',
  'location-client': 'location',
  'location-unclient': 'location',
  'location-sdk': 'location',
  'location-centrak': 'location',
  zone: 'location',
  rssizone: 'location',
  vbeacon: 'location',
  'occupancy-alerts': 'location',
  'asset-raw': 'location',
  'asset-raw-rssi': 'location',
  'discovered-raw-rssi': 'location',
  'wifi-conn-raw': 'location',
  'wifi-unconn-raw': 'location',
  'sdkclient-scan-data': 'location',
  ping: 'ping',
};

/** The topic's catalogue key (`location_asset` → `location-asset`), or null for an unknown topic. */
export function topicKey(topic: string): string | null {
  const key = topic.replace(/_/g, '-');
  return Object.hasOwn(TOPIC_CATEGORIES, key) ? key : null;
}

export function topicCategory(topic: string): Category {
  const key = topicKey(topic);
  return key ? TOPIC_CATEGORIES[key]! : 'other';
}

/** Label values that are always allowed (CONTRACT section 7: bounded labels). */
export const KNOWN_TOPICS: ReadonlySet<string> = new Set(
  Object.keys(TOPIC_CATEGORIES).flatMap((t) => [t, t.replace(/-/g, '_')]),
);
export const KNOWN_TYPES: ReadonlySet<string> = new Set([
  ...Object.keys(ALARM_DEFS),
  ...Object.keys(ALARM_DEFS).map((k) => k.toUpperCase()),
  ...KNOWN_EVENT_TYPES,
  ...KNOWN_TOPICS,
]);

export { ALARM_DEFS };
