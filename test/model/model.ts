import { createHash } from 'node:crypto';
import fc from 'fast-check';
import type { Role } from '../../src/config/variables';
import { eventIdsOf } from '../helpers/events';
import type { FakeHec } from '../helpers/fake-hec';
import { sampleJson } from '../helpers/fixtures';

/**
 * The model behind the state-machine tests: what a sequence of webhooks, crashes, restarts, clock
 * moves and Splunk outages must leave behind, computed without mistbridge's code. The webhooks are
 * the real samples with the device, the alarm id, the status and the time changed.
 */

export const RETENTION_S = 3600;
export const QUIET_WINDOW_S = 600;
export const DEVICES = ['d420b02000fa', '5c5b355114cc', 'f4bfa806c96c'];
export const ALARMS = ['faf2de33-41cc-4f05-b52c-be2f1f0d1368', '0b1b9b8c-7f5e-4c1a-9a51-2f1f3a4c5d6e'];
export const SITES = ['f688779c-e335-4f88-8d7c-9c5e9964528b', '5a1b6c7d-0e2f-4a3b-9c8d-7e6f5a4b3c2d'];
const DEVICE_ORG = '09dac91f-6e73-4100-89f7-698e0fafbb1b';
const MARVIS_ORG = '9747a50a-23f8-4ca5-83c4-102e807874de';
const SECURITY_ORG = 'b4e16c72-d50e-4c03-a952-a3217e231e2c';

/** A webhook of the model: a device down/up, a Marvis alarm open/resolved, or a security alarm at a site. */
export interface Post {
  kind: 'device' | 'marvis' | 'security';
  action: 'open' | 'resolve';
  target: number;
  ageS: number;
}

export type Command =
  | { type: 'post'; post: Post }
  | { type: 'duplicate'; pick: number }
  | { type: 'crash'; roles: number }
  | { type: 'restart'; roles: number }
  | { type: 'advance'; ms: number }
  /** Crash, the clock moves past the security quiet window while nothing runs, start again. */
  | { type: 'down'; ms: number }
  | { type: 'hec'; up: boolean }
  /** The chat destinations answer 503 (or again 200). */
  | { type: 'chat'; up: boolean }
  /** An event Mist sent that never arrived (it is in the Mist API's search, not on the webhook). */
  | { type: 'missed'; post: Post }
  /** A back-fill pass of the Mist API companion; with `failedWrite`, its marks cannot be written (then a pass that can). */
  | { type: 'backfill'; failedWrite: boolean }
  /** Splunk refuses the next Mist event or incident version it is sent: a letter of stage splunk. */
  | { type: 'refuse'; what: 'event' | 'incident' }
  /** The generic webhook destination refuses its next message (400): letters of stage notify for it. */
  | { type: 'chatRefuse' }
  /** Every waiting letter of the splunk and notify stages redriven through the admin API. */
  | { type: 'redrive' }
  /** Crash; a later version (its schema one optional field more) rewrites the latest record of an incident; start again. */
  | { type: 'foreign'; pick: number };

/**
 * Role sets the model restarts with: every role, or every consumer without the ingress (draining).
 * On the embedded bus a consumer role that is absent from a run misses what that run finishes
 * (the journal keeps webhooks for the normalizer only), so dropping one would make the outcome
 * depend on timing rather than on the contract.
 */
export const ROLE_SETS: Role[][] = [
  ['ingress', 'normalizer', 'splunk', 'metrics', 'correlator', 'mistapi', 'notify'],
  ['normalizer', 'splunk', 'metrics', 'correlator', 'mistapi', 'notify'],
];
export const ALL_ROLES = ROLE_SETS[0]!;

/**
 * Events are up to ten minutes old when posted; security alarms up to five, so that only the
 * model's clock moves (never the posting itself) carry an incident past its quiet window.
 */
export const postArb: fc.Arbitrary<Post> = fc
  .record({
    kind: fc.constantFrom('device' as const, 'marvis' as const, 'security' as const),
    action: fc.constantFrom('open' as const, 'resolve' as const),
    target: fc.nat({ max: 2 }),
    ageS: fc.integer({ min: 0, max: 600 }),
  })
  .map((p) => (p.kind === 'security' ? { ...p, ageS: p.ageS % (QUIET_WINDOW_S / 2 + 1) } : p));

export const command: fc.Arbitrary<Command> = fc.oneof(
  { weight: 10, arbitrary: postArb.map((p): Command => ({ type: 'post', post: p })) },
  { weight: 2, arbitrary: fc.nat().map((pick): Command => ({ type: 'duplicate', pick })) },
  { weight: 2, arbitrary: fc.nat({ max: ROLE_SETS.length - 1 }).map((roles): Command => ({ type: 'crash', roles })) },
  { weight: 1, arbitrary: fc.nat({ max: ROLE_SETS.length - 1 }).map((roles): Command => ({ type: 'restart', roles })) },
  { weight: 2, arbitrary: fc.constantFrom(30_000, 2 * RETENTION_S * 1000).map((ms): Command => ({ type: 'advance', ms })) },
  { weight: 1, arbitrary: fc.constant<Command>({ type: 'down', ms: (QUIET_WINDOW_S + 300) * 1000 }) },
  { weight: 1, arbitrary: fc.boolean().map((up): Command => ({ type: 'hec', up })) },
  { weight: 1, arbitrary: fc.boolean().map((up): Command => ({ type: 'chat', up })) },
  { weight: 2, arbitrary: postArb.map((p): Command => ({ type: 'missed', post: { ...p, kind: 'device' } })) },
  { weight: 2, arbitrary: fc.boolean().map((failedWrite): Command => ({ type: 'backfill', failedWrite })) },
  { weight: 1, arbitrary: fc.constantFrom('event' as const, 'incident' as const).map((what): Command => ({ type: 'refuse', what })) },
  { weight: 1, arbitrary: fc.constant<Command>({ type: 'chatRefuse' }) },
  { weight: 1, arbitrary: fc.constant<Command>({ type: 'redrive' }) },
  { weight: 1, arbitrary: fc.nat().map((pick): Command => ({ type: 'foreign', pick })) },
);

/** A webhook body for a post, its event at `eventMs` (distinct per post: ties are not what this model is about). */
export function webhookBody(p: Post, eventMs: number): string {
  if (p.kind === 'device') {
    const sample = sampleJson(p.action === 'open' ? 'alarms__device-down-alarmdef.json' : 'alarms__device-reconnected-alarmdef.json');
    const mac = DEVICES[p.target % DEVICES.length]!;
    const event = { ...sample.events[0], aps: [mac], hostnames: [`AP-${mac.slice(-4)}`], timestamp: eventMs / 1000, last_seen: eventMs / 1000, id: `model-${eventMs}` };
    return JSON.stringify({ topic: 'alarms', events: [event] });
  }
  if (p.kind === 'security') {
    const base = sampleJson('alarms__security-rogue-ap-alarmdef.json').events[0]!;
    const event = { ...base, site_id: SITES[p.target % SITES.length], timestamp: eventMs / 1000, last_seen: eventMs / 1000, id: `model-${eventMs}` };
    return JSON.stringify({ topic: 'alarms', events: [event] });
  }
  const sample = sampleJson('alarms__marvis-bad-cable-open-alarmdef.json');
  const status = p.action === 'open' ? 'open' : 'resolved';
  const base = sample.events[0]!;
  const event = { ...base, id: ALARMS[p.target % ALARMS.length], status, details: { ...(base.details as object), status }, timestamp: eventMs / 1000, last_seen: eventMs / 1000 };
  return JSON.stringify({ topic: 'alarms', events: [event] });
}

export function keyOf(p: Post): string {
  if (p.kind === 'device') return `device:${DEVICE_ORG}:${DEVICES[p.target % DEVICES.length]}`;
  if (p.kind === 'security') return `security:${SECURITY_ORG}:${SITES[p.target % SITES.length]}`;
  return `marvis:${MARVIS_ORG}:${ALARMS[p.target % ALARMS.length]}`;
}

export interface ExpectedIncident {
  key: string;
  kind: string;
  incident_id: string;
  state: 'open' | 'resolved';
  opened_at: number;
  resolved_at: number | null;
  resolve_reason: string | null;
}

type Tracked = ExpectedIncident & { applied: Set<string>; updated_at: number };

/**
 * CONTRACT section 6 for device, Marvis and security keys, applied to each distinct accepted event
 * once, in the order the webhooks were accepted: opens, resolves, stale events, remembered
 * recoveries, the security quiet window and retention. Written from the contract's words, not
 * from the reducer.
 */
export class Oracle {
  readonly incidents = new Map<string, Tracked>();
  readonly recoveries = new Map<string, number>();
  /** Every incident ever opened, by incident_id: whether it was resolved (what notifications must tell). */
  readonly history = new Map<string, { key: string; resolved: boolean }>();

  apply(p: Post, at: number, id: string): void {
    const key = keyOf(p);
    let current = this.incidents.get(key);
    if (current?.applied.has(id)) return;
    const remembered = this.recoveries.get(key);
    // Security: an alarm after the quiet window of the open incident finds it resolved at the window's end.
    if (p.kind === 'security' && current?.state === 'open' && at >= current.updated_at + QUIET_WINDOW_S * 1000) {
      this.#quietResolve(current);
      current = this.incidents.get(key);
    }
    if (p.kind === 'security' || p.action === 'open') {
      if (current?.state === 'open') {
        if (at >= current.opened_at) {
          current.applied.add(id);
          current.updated_at = Math.max(current.updated_at, at);
        }
        return;
      }
      const stale = (current && (at < current.resolved_at! || at === current.opened_at)) || (remembered !== undefined && at < remembered);
      if (stale) return;
      const incidentId = createHash('sha256').update(`${key}${at}`).digest('hex').slice(0, 32);
      this.history.set(incidentId, { key, resolved: false });
      this.incidents.set(key, {
        key,
        kind: p.kind,
        incident_id: incidentId,
        state: 'open',
        opened_at: at,
        resolved_at: null,
        resolve_reason: null,
        applied: new Set([id]),
        updated_at: at,
      });
      return;
    }
    if (current?.state === 'open') {
      if (at < current.opened_at) return;
      Object.assign(current, { state: 'resolved', resolved_at: at, resolve_reason: p.kind === 'device' ? 'recovery_event' : 'mist_resolved' });
      this.history.get(current.incident_id)!.resolved = true;
      current.applied.add(id);
      current.updated_at = Math.max(current.updated_at, at);
      return;
    }
    // Nothing open: a recovery newer than what is known is remembered.
    if ((remembered === undefined || at > remembered) && (!current || at > current.resolved_at!)) this.recoveries.set(key, at);
  }

  #quietResolve(incident: Tracked): void {
    Object.assign(incident, { state: 'resolved', resolved_at: incident.updated_at + QUIET_WINDOW_S * 1000, resolve_reason: 'quiet_window' });
    this.history.get(incident.incident_id)!.resolved = true;
  }

  /**
   * What a generic-webhook destination must have been told at least once (CONTRACT section 9):
   * every incident opened (or opened and resolved in one message), and every resolution.
   */
  notifications(): string[] {
    return [...this.history].flatMap(([id, h]) => (h.resolved ? [`${id} resolved`] : [`${id} opened`]));
  }

  /** The sweep: quiet security incidents resolve; resolved incidents and remembered recoveries past retention are forgotten. */
  sweep(nowMs: number): void {
    for (const incident of this.incidents.values()) {
      if (incident.kind === 'security' && incident.state === 'open' && incident.updated_at + QUIET_WINDOW_S * 1000 <= nowMs) this.#quietResolve(incident);
    }
    for (const [key, incident] of this.incidents) if (incident.state === 'resolved' && incident.resolved_at! + RETENTION_S * 1000 <= nowMs) this.incidents.delete(key);
    for (const [key, at] of this.recoveries) if (at + RETENTION_S * 1000 <= nowMs) this.recoveries.delete(key);
  }

  expected(): ExpectedIncident[] {
    return [...this.incidents.values()].map(({ applied: _applied, updated_at: _updated, ...incident }) => incident).sort((a, b) => a.key.localeCompare(b.key));
  }

  /** `mistbridge_device_up` per device MAC: 0 while its incident is open, 1 once resolved. */
  deviceUp(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const incident of this.incidents.values()) if (incident.kind === 'device') out[incident.key.split(':')[2]!] = incident.state === 'open' ? 0 : 1;
    return out;
  }
}

/** The API's incidents reduced to what the oracle decides. */
export function comparable(incidents: Array<Record<string, unknown>>): ExpectedIncident[] {
  return incidents
    .map((i) => ({
      key: i.key as string,
      kind: i.kind as string,
      incident_id: i.incident_id as string,
      state: i.state as 'open' | 'resolved',
      opened_at: i.opened_at as number,
      resolved_at: i.resolved_at as number | null,
      resolve_reason: i.resolve_reason as string | null,
    }))
    .sort((a, b) => a.key.localeCompare(b.key));
}

/**
 * Incident versions reaching Splunk: a redelivery of a version already seen is allowed (at least
 * once), but every new version of an incident must be higher than any before it; a version Splunk
 * refused (`redriven`, `<incident_id> v<version>`) arrives when its letter is redriven, and is left out.
 */
export function versionProblems(hec: FakeHec, redriven: ReadonlySet<string> = new Set()): string[] {
  const seen = new Map<string, Set<number>>();
  const highest = new Map<string, number>();
  const problems: string[] = [];
  for (const envelope of hec.incidents()) {
    const id = envelope.event.incident_id as string;
    const version = envelope.event.version as number;
    // A version Splunk refused comes back when its letter is redriven, after later ones.
    if (redriven.has(`${id} v${version}`)) continue;
    const versions = seen.get(id) ?? new Set<number>();
    seen.set(id, versions);
    if (versions.has(version)) continue;
    if (version <= (highest.get(id) ?? 0)) problems.push(`incident ${id}: version ${version} after ${highest.get(id)}`);
    versions.add(version);
    highest.set(id, Math.max(version, highest.get(id) ?? 0));
  }
  return problems;
}

/** Incidents of the API whose latest version never reached Splunk (a write skipped for the sink). */
export function missingAtSplunk(api: Array<Record<string, unknown>>, hec: FakeHec): string[] {
  const delivered = new Set(hec.incidents().map((e) => `${e.event.incident_id as string} v${e.event.version as number}`));
  return api.map((i) => `${i.incident_id as string} v${i.version as number}`).filter((v) => !delivered.has(v));
}

/** The one event id of a model webhook, as mistbridge computes it (CONTRACT section 5). */
export const eventIdOf = (body: string): string => eventIdsOf([body])[0]!;

/** A short text for a failing sequence. */
export function describe(commands: Command[]): string {
  return commands.map((c) => (c.type === 'post' ? `post ${c.post.kind} ${c.post.action} #${c.post.target} -${c.post.ageS}s` : `${c.type} ${JSON.stringify({ ...c, type: undefined })}`)).join('; ');
}

/** What a generic-webhook destination was told: `<incident_id> opened|resolved`, once per distinct transition. */
export function told(bodies: Array<Record<string, unknown>>): string[] {
  return [...new Set(bodies.map((b) => `${(b.incident as { incident_id: string }).incident_id} ${b.transition as string}`))].sort();
}

/** The oracle's notifications not (yet) told. */
export function untold(expected: string[], bodies: Array<Record<string, unknown>>): string[] {
  const said = new Set(told(bodies));
  return expected.filter((e) => !said.has(e));
}
