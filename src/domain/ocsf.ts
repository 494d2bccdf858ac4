import type { MistEvent } from './mist-event';
import { canonicalTopic } from './topic';

/**
 * OCSF output beside CIM (CONTRACT section 10, 0.3). Fixed classes, so that searches keyed on
 * `class_uid` never break: audits → API Activity (6003); alarms of every group, Marvis actions
 * included → Detection Finding (2004); NAC events → Authentication (3002). Every other topic has
 * no OCSF event (never a forced class). Built from the normalized event, which privacy already
 * transformed; what has no OCSF attribute goes under `unmapped`. Checked against the official
 * class schemas in tests (test/fixtures/ocsf), never in the hot path.
 */
export const OCSF_VERSION = '1.9.0-dev';

type Json = Record<string, unknown>;

export interface OcsfEvent extends Json {
  class_uid: number;
  category_uid: number;
  activity_id: number;
  type_uid: number;
  severity_id: number;
  time: number;
  metadata: Json;
}

const CLASSES = {
  'api-activity': { class_uid: 6003, class_name: 'API Activity', category_uid: 6, category_name: 'Application Activity' },
  'detection-finding': { class_uid: 2004, class_name: 'Detection Finding', category_uid: 2, category_name: 'Findings' },
  authentication: { class_uid: 3002, class_name: 'Authentication', category_uid: 3, category_name: 'Identity & Access Management' },
} as const;

/** The OCSF class of a canonical topic, or null: no OCSF event for it in 0.3. */
export function ocsfClassOf(topic: string): number | null {
  const key = classKey(canonicalTopic(topic));
  return key ? CLASSES[key].class_uid : null;
}

function classKey(topic: string): keyof typeof CLASSES | null {
  if (topic === 'audits') return 'api-activity';
  if (topic === 'alarms') return 'detection-finding';
  if (topic === 'nac-events') return 'authentication';
  return null;
}

/** CIM severity → OCSF severity_id (1 informational … 5 critical). */
const SEVERITY_ID: Readonly<Record<string, number>> = { informational: 1, low: 2, medium: 3, high: 4, critical: 5 };

/** The event in OCSF, or null when its topic has no class. */
export function toOcsf(event: MistEvent, productVersion: string): OcsfEvent | null {
  const key = classKey(canonicalTopic(event.topic));
  if (!key) return null;
  const cls = CLASSES[key];
  const specific = key === 'api-activity' ? apiActivity(event) : key === 'detection-finding' ? detectionFinding(event) : authentication(event);
  const { activity_id: activityId, used, ...fields } = specific;
  return {
    ...cls,
    activity_id: activityId,
    type_uid: cls.class_uid * 100 + activityId,
    severity_id: SEVERITY_ID[event.severity] ?? 0,
    severity: event.severity,
    time: event.timestamp,
    message: event.message,
    ...(event.count !== null ? { count: event.count } : {}),
    metadata: {
      uid: event.event_id,
      version: OCSF_VERSION,
      product: { name: 'mistbridge', vendor_name: 'Juniper Mist', version: productVersion },
      log_name: canonicalTopic(event.topic),
      original_time: String(event.timestamp),
      ...(event.org_id ? { tenant_uid: event.org_id } : {}),
    },
    ...fields,
    unmapped: unmapped(event, used),
  };
}

interface Specific extends Json {
  activity_id: number;
  /** MistEvent fields and attributes this class maps (the rest goes under `unmapped`). */
  used: string[];
}

function apiActivity(event: MistEvent): Specific {
  const a = event.attributes;
  const text = `${a.message ?? event.message}`.toLowerCase();
  // API Activity: 1 Create, 2 Read, 3 Update, 4 Delete, 99 Other (Mist audit messages start with the verb).
  const activity = /^(add|create|claim|invite)/.test(text) ? 1 : /^(access|view|read|get)/.test(text) ? 2 : /^(update|modify|change|set|assign|rename|edit)/.test(text) ? 3 : /^(delete|remove|unclaim|release)/.test(text) ? 4 : 99;
  const user = { ...(a.admin_name ? { name: a.admin_name } : {}), ...(a.admin_id ? { uid: a.admin_id } : {}), ...(a.email ? { email_addr: a.email } : {}) };
  return {
    activity_id: activity,
    ...(activity === 99 ? { activity_name: 'Other' } : {}),
    actor: Object.keys(user).length > 0 ? { user } : {},
    api: { operation: a.message ?? event.message },
    src_endpoint: a.src_ip ? { ip: a.src_ip } : {},
    used: ['admin_name', 'admin_id', 'email', 'src_ip', 'message'],
  };
}

function detectionFinding(event: MistEvent): Specific {
  // Detection Finding: 1 Create, 2 Update, 3 Close.
  const activity = event.state === 'resolved' ? 3 : 1;
  return {
    activity_id: activity,
    status_id: event.state === 'resolved' ? 4 : 1, // 1 New, 4 Resolved
    finding_info: {
      uid: event.mist_id ?? event.event_id,
      title: event.message,
      types: [event.type],
      ...(event.attributes.group ? { product_uid: event.attributes.group } : {}),
    },
    resources: event.devices.map((d) => ({ uid: d.mac, type: d.type, ...(d.name ? { name: d.name } : {}) })),
    used: ['devices', 'mist_id', 'group'],
  };
}

function authentication(event: MistEvent): Specific {
  const a = event.attributes;
  const type = event.type.toUpperCase();
  const failed = /DENY|DENIED|FAIL|REJECT/.test(type);
  const user = { ...(a.username ? { name: a.username } : { name: event.client_mac ?? 'unknown' }), ...(a.idp_id ? { uid_alt: a.idp_id } : {}) };
  return {
    activity_id: 1, // Logon
    status_id: failed ? 2 : 1, // 2 Failure, 1 Success
    status: failed ? 'Failure' : 'Success',
    user,
    ...(a.auth_type ? { auth_protocol: a.auth_type, auth_protocol_id: 99 } : {}),
    src_endpoint: { ...(event.client_mac ? { mac: event.client_mac } : {}) },
    ...(event.device_mac ? { dst_endpoint: { mac: event.device_mac, ...(event.device_name ? { name: event.device_name } : {}) } } : {}),
    used: ['username', 'idp_id', 'auth_type', 'client_mac', 'device_mac', 'device_name'],
  };
}

/** Mist's fields without an OCSF attribute (after privacy: built from the normalized event). */
function unmapped(event: MistEvent, used: string[]): Json {
  const skip = new Set(used);
  const attributes = Object.fromEntries(Object.entries(event.attributes).filter(([name]) => !skip.has(name)));
  return {
    topic: event.topic,
    type: event.type,
    category: event.category,
    ...(event.site_id ? { site_id: event.site_id } : {}),
    ...(event.site_name ? { site_name: event.site_name } : {}),
    ...(event.mist_severity ? { mist_severity: event.mist_severity } : {}),
    ...(event.reasons.length > 0 ? { reasons: event.reasons } : {}),
    ...(!skip.has('device_mac') && event.device_mac ? { device_mac: event.device_mac, device_type: event.device_type, device_name: event.device_name } : {}),
    ...(!skip.has('client_mac') && event.client_mac ? { client_mac: event.client_mac } : {}),
    received_at: event.received_at,
    ...(Object.keys(attributes).length > 0 ? { attributes } : {}),
  };
}
