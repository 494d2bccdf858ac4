import type { MistEvent } from '../domain/mist-event';
import { canonicalTopic } from '../domain/topic';
import { own } from '../shared/own';
import { ALARM_DEFS, topicCategory, topicKey as catalogueKey } from './catalogue';
import type { ApiCatalogue, CatalogueSource } from '../domain/api-catalogue';
import { deviceEventSeverity } from './device-event-severity';
import { eventId } from './event-id';
import { flatten } from './flatten';
import { identify } from './identity';
import { describe } from './message';
import { applyPrivacy, type PrivacyRules } from './privacy';
import { SEVERITY_IDS, mistSeverityOf, severityOf, type SeverityRules } from './severity';
import { eventTime } from './timestamp';

/** What the normalizer is configured with: severity rules and, optionally, privacy rules. */
export interface NormalizeRules extends SeverityRules {
  privacy?: PrivacyRules;
  /** Mist's own catalogues (the companion's const:* records), for types the built-in tables lack. */
  catalogue?: ApiCatalogue;
}

/** `catalogue`: where an alarm's or a device event's words came from (counted by the worker). */
export type Normalized = { ok: true; event: MistEvent; catalogue?: CatalogueSource } | { ok: false; reason: 'normalize_failed' | 'event_not_object'; error: string };

const ALARM_GROUPS = new Set(['infrastructure', 'marvis', 'security']);
/**
 * Marvis and alarm states (CONTRACT section 5). Open: `open`, `inprogress` (Marvis is acting),
 * `reoccured` (Mist's spelling; back after a fix). Resolved: `resolved`, `validated` (the fix was
 * checked), `marvis_self_driven` (Marvis fixed it itself) and `expired` / `expired action` (Mist
 * stopped tracking it: left open, it would stay open here for ever).
 */
const OPEN_STATES = new Set(['open', 'opened', 'active', 'in_progress', 'inprogress', 'reoccured', 'reoccurred']);
const RESOLVED_STATES = new Set(['resolved', 'validated', 'fixed', 'closed', 'cleared', 'marvis_self_driven', 'expired', 'expired action', 'expired_action']);
/** Mist's "no site" id: an org-level event, not a site. */
const NIL_ID = '00000000-0000-0000-0000-000000000000';

/**
 * Splits a raw webhook body into its events and normalizes each (pure: the clock comes in as
 * `receivedAt`). A body that is not a Mist envelope fails as a whole; a bad event fails alone.
 */
export function normalizeWebhook(body: Buffer | string, receivedAt: number, rules: NormalizeRules): { topic: string; results: Normalized[] } | { error: string } {
  const webhook = webhookEvents(body, receivedAt, rules);
  return 'error' in webhook ? webhook : { topic: webhook.topic, results: [...webhook.results] };
}

/**
 * The same, one event at a time: a body of 50,000 events is never held as 50,000 normalized
 * events (the normalizer writes them out in chunks as they come).
 */
export function webhookEvents(body: Buffer | string, receivedAt: number, rules: NormalizeRules, onSource?: (event: unknown) => void): { topic: string; results: Iterable<Normalized> } | { error: string } {
  let parsed: unknown;
  try {
    parsed = JSON.parse(typeof body === 'string' ? body : body.toString('utf8'));
  } catch (err) {
    return { error: `body is not JSON: ${(err as Error).message}` };
  }
  const envelopeError = envelopeProblem(parsed);
  if (envelopeError) return { error: envelopeError };
  const { topic, events } = parsed as { topic: string; events: unknown[] };
  return {
    topic,
    results: (function* () {
      for (const event of events) {
        onSource?.(event); // the event as received, before its results (the console's raw view)
        yield* guarded(topic, event, receivedAt, rules);
      }
    })(),
  };
}

/** A pathological event (nesting deep enough to exhaust the stack) fails alone, with its reason. */
function guarded(topic: string, event: unknown, receivedAt: number, rules: NormalizeRules): Normalized[] {
  try {
    return normalizeEvents(topic, event, receivedAt, rules);
  } catch (err) {
    return [{ ok: false, reason: 'normalize_failed', error: (err as Error).message }];
  }
}

/** Why a parsed body is not a Mist webhook envelope (CONTRACT section 3, 400), or null. */
export function envelopeProblem(parsed: unknown): string | null {
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return 'body must be a JSON object';
  const envelope = parsed as Record<string, unknown>;
  // A bare event (no envelope): what Mist sends with the webhook's single_event_per_message option on.
  if (!('topic' in envelope) && !('events' in envelope))
    return 'body is a single Mist event, not {"topic", "events": [...]}: turn off single_event_per_message on the Mist webhook (that body shape names no topic)';
  if (typeof envelope.topic !== 'string' || envelope.topic.trim() === '') return 'body must have a string "topic"';
  if (!Array.isArray(envelope.events)) {
    return 'body must have an "events" array (if the Mist webhook has single_event_per_message on, turn it off: that body shape is undocumented)';
  }
  return null;
}

/**
 * One Mist event → its normalized events: one, except for `occupancy-alerts`, which yields one per
 * entry of `alert_events[]` (its own type, time, zone and org), each with the id of the event with
 * `alert_events` replaced by that one entry (CONTRACT section 5).
 */
export function normalizeEvents(rawTopic: string, input: unknown, receivedAt: number, rules: NormalizeRules): Normalized[] {
  if (input === null || typeof input !== 'object' || Array.isArray(input))
    return [{ ok: false, reason: 'event_not_object', error: `event must be a JSON object, got ${Array.isArray(input) ? 'array' : typeof input}` }];
  const original = input as Record<string, unknown>;
  const canonical = canonicalTopic(rawTopic);
  if (canonical === 'occupancy-alerts' && Array.isArray(original.alert_events) && original.alert_events.length > 0) {
    const { alert_events: alerts, ...envelope } = original;
    return (alerts as unknown[]).map((alert) => {
      const entry = alert !== null && typeof alert === 'object' && !Array.isArray(alert) ? (alert as Record<string, unknown>) : { value: alert };
      return normalizeEvent(rawTopic, { ...envelope, ...entry }, receivedAt, rules, { ...envelope, alert_events: [alert] });
    });
  }
  return [normalizeEvent(rawTopic, original, receivedAt, rules)];
}

/**
 * One normalized event. `identity` is what its `event_id` is computed over when that is not the
 * event itself (an occupancy alert entry).
 */
export function normalizeEvent(rawTopic: string, input: unknown, receivedAt: number, rules: NormalizeRules, identity?: Record<string, unknown>): Normalized {
  if (input === null || typeof input !== 'object' || Array.isArray(input))
    return { ok: false, reason: 'event_not_object', error: `event must be a JSON object, got ${Array.isArray(input) ? 'array' : typeof input}` };
  const original = input as Record<string, unknown>;
  const topic = rawTopic.trim().toLowerCase();
  const canonical = canonicalTopic(rawTopic);
  const key = catalogueKey(canonical);
  const event = applyPrivacy(original, canonical, rules.privacy);
  const lifted = new Set<string>();
  const take = <T>(field: string, value: T | null): T | null => {
    if (value !== null) lifted.add(field);
    return value;
  };

  const type =
    take('type', typeof event.type === 'string' && event.type.trim() !== '' ? event.type : null) ??
    (typeof event.type === 'number' ? String(event.type) : topic);
  const mistSeverity = take('severity', typeof event.severity === 'string' ? event.severity : null) ?? mistSeverityOf(event);
  const builtinAlarm = key === 'alarms' ? own(ALARM_DEFS, type.toLowerCase()) : undefined;
  const apiAlarm = key === 'alarms' && !builtinAlarm ? rules.catalogue?.alarm(type) : undefined;
  const alarmDef = builtinAlarm ?? (apiAlarm && { display: apiAlarm.display, group: apiAlarm.group, severity: apiAlarm.severity });
  // A device event the severity table lacks: Mist's catalogue gives its words (its severity stays the type rule's).
  const builtinDeviceEvent = key === 'device-events' && deviceEventSeverity(type) !== undefined;
  const apiDeviceEvent = key === 'device-events' && !builtinDeviceEvent ? rules.catalogue?.deviceEvent(type) : undefined;
  const catalogue: CatalogueSource | undefined =
    key === 'alarms' ? (builtinAlarm ? 'builtin' : apiAlarm ? 'api' : 'none') : key === 'device-events' ? (builtinDeviceEvent ? 'builtin' : apiDeviceEvent ? 'api' : 'none') : undefined;
  const severity = severityOf(canonical, type, event, alarmDef?.severity ?? null, rules);
  const time = eventTime(event, key, receivedAt);
  const who = identify(event, key);
  const reasons = reasonsOf(event, lifted);

  return {
    ok: true,
    ...(catalogue ? { catalogue } : {}),
    event: {
      event_id: eventId(canonical, identity ?? original),
      topic,
      type,
      category: key === 'alarms' ? alarmGroup(event, alarmDef?.group) : topicCategory(canonical),
      severity,
      severity_id: SEVERITY_IDS[severity],
      mist_severity: mistSeverity,
      timestamp: time.ms,
      time_source: time.source,
      received_at: receivedAt,
      org_id: take('org_id', idOrNull(event.org_id)),
      site_id: take('site_id', idOrNull(event.site_id)),
      site_name: take('site_name', stringOrNull(event.site_name)),
      ...who,
      mist_id: take('id', stringOrNull(event.id)),
      count: take('count', Number.isInteger(event.count) && Math.abs(event.count as number) <= 2 ** 31 - 1 ? (event.count as number) : null),
      state: key === 'alarms' ? alarmState(event) : null,
      reasons,
      message: describe(key, topic, type, event, who, alarmDef?.display ?? apiDeviceEvent?.display),
      attributes: flatten(normalizedAudit(key, event), lifted),
    },
  };
}

function alarmGroup(event: Record<string, unknown>, catalogueGroup: string | undefined): string {
  const group = typeof event.group === 'string' ? event.group.toLowerCase() : '';
  if (ALARM_GROUPS.has(group)) return group;
  return catalogueGroup ?? 'infrastructure';
}

/** Marvis state: `status`, then `details.status`, then `details.state` (CONTRACT section 5). */
function alarmState(event: Record<string, unknown>): 'open' | 'resolved' | null {
  const details = event.details && typeof event.details === 'object' ? (event.details as Record<string, unknown>) : {};
  for (const value of [event.status, details.status, details.state]) {
    if (typeof value !== 'string') continue;
    const state = value.trim().toLowerCase();
    if (OPEN_STATES.has(state)) return 'open';
    if (RESOLVED_STATES.has(state)) return 'resolved';
  }
  return null;
}

/**
 * Audits carry `before`/`after` as JSON-encoded strings (real captures) or as objects (the
 * OpenAPI example): both become the same flattened attributes (`after.radio_config.band_24…`).
 */
function normalizedAudit(key: string | null, event: Record<string, unknown>): Record<string, unknown> {
  if (key !== 'audits') return event;
  let out = event;
  for (const field of ['before', 'after']) {
    const value = event[field];
    if (typeof value !== 'string' || !value.trim().startsWith('{')) continue;
    try {
      const parsed: unknown = JSON.parse(value);
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) out = { ...out, [field]: parsed };
    } catch {
      // not JSON after all: kept as the string Mist sent
    }
  }
  return out;
}

function reasonsOf(event: Record<string, unknown>, lifted: Set<string>): string[] {
  const reasons: string[] = [];
  if (Array.isArray(event.reasons) && event.reasons.every((r) => typeof r === 'string')) {
    reasons.push(...(event.reasons as string[]));
    lifted.add('reasons');
  }
  if (typeof event.reason === 'string' && event.reason !== '') {
    reasons.push(event.reason);
    lifted.add('reason');
  }
  return reasons;
}

function stringOrNull(value: unknown): string | null {
  return typeof value === 'string' ? value : null;
}

/** An org or site id; Mist's nil id means there is none. */
function idOrNull(value: unknown): string | null {
  return typeof value === 'string' && value !== NIL_ID ? value : null;
}
