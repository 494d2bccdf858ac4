import { canonicalTopic } from '../domain/topic';
import { ALARM_DEFS } from './alarm-defs';
import { DEVICE_EVENT_TYPES } from './device-event-severity';
import { KNOWN_EVENT_TYPES } from './event-types';

export type Category = 'infrastructure' | 'marvis' | 'security' | 'device' | 'client' | 'audit' | 'location' | 'nac' | 'mxedge' | 'sle' | 'ping' | 'other';

/**
 * Every webhook topic in Mist's catalogue and its category, keyed by canonical topic (CONTRACT
 * section 5: `location_asset` and `location-asset` are one topic). Sources, as of 2026-11: the Mist
 * OpenAPI 2509.1.1 webhook examples and their v2606 spellings, the Terraform provider's
 * `mist_org_webhook` topic enum, and Juniper's webhook-topics page (TOPICS.md section 7).
 * `vbeacon` is listed by Juniper with no documented payload: it is handled generically on purpose.
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
  'filtered-asset-rssi': 'location',
  'discovered-raw-rssi': 'location',
  'wifi-conn-raw': 'location',
  'wifi-unconn-raw': 'location',
  'sdkclient-scan-data': 'location',
  ping: 'ping',
};

/** The topic's catalogue key (its canonical spelling, `location_asset` → `location-asset`), or null for an unknown topic. */
export function topicKey(topic: string): string | null {
  const key = canonicalTopic(topic);
  return Object.hasOwn(TOPIC_CATEGORIES, key) ? key : null;
}

export function topicCategory(topic: string): Category {
  const key = topicKey(topic);
  return key ? TOPIC_CATEGORIES[key]! : 'other';
}

/** Label values that are always allowed (CONTRACT section 7: bounded labels; labels carry the canonical topic). */
export const KNOWN_TOPICS: ReadonlySet<string> = new Set(Object.keys(TOPIC_CATEGORIES));
export const KNOWN_TYPES: ReadonlySet<string> = new Set([
  ...Object.keys(ALARM_DEFS),
  ...Object.keys(ALARM_DEFS).map((k) => k.toUpperCase()),
  ...KNOWN_EVENT_TYPES,
  ...DEVICE_EVENT_TYPES,
  ...KNOWN_TOPICS,
  ...Object.keys(TOPIC_CATEGORIES).map((t) => t.replace(/-/g, '_')), // the type of a typeless event is its topic as sent
]);

export { ALARM_DEFS };
