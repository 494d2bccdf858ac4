import type { Incident, Recovery } from '../../../src/domain/incident';
import { incidentId, reduce, sweep } from '../../../src/correlator/reducer';
import { buildRules } from '../../../src/correlator/rules';
import type { MistEvent } from '../../../src/domain/mist-event';
import { eventFrom } from '../../helpers/events';

const WINDOW = 3600_000;
const rules = buildRules({}, WINDOW, 7 * 86400_000);

/** Applies events in order, the way the correlator does; returns the state and every write. */
function run(
  events: MistEvent[],
  initial = new Map<string, Incident>(),
): { state: Map<string, Incident>; writes: Incident[]; recoveries: Map<string, Recovery> } {
  const state = new Map(initial);
  const recoveries = new Map<string, Recovery>();
  const writes: Incident[] = [];
  for (const event of events) {
    const reduced = reduce({ incident: (key) => state.get(key), recovery: (key) => recoveries.get(key) }, event, rules);
    for (const write of reduced.incidents) {
      state.set(write.key, write);
      writes.push(write);
    }
    for (const recovery of reduced.recoveries) recoveries.set(recovery.key, recovery);
  }
  return { state, writes, recoveries };
}

const ORG = '09dac91f-6e73-4100-89f7-698e0fafbb1b';
const deviceKey = (mac: string, org = ORG): string => `device:${org}:${mac}`;

describe('device incidents: one per MAC', () => {
  const outage = eventFrom('alarms__device-down-alarmdef.json', { aps: ['d420b02000fa', '5c5b355114cc'], hostnames: ['AP-1', 'AP-2'] });
  const recovery = eventFrom('alarms__device-reconnected-alarmdef.json', { timestamp: 1629754300 });

  it('opens one incident per AP of a multi-AP alarm and resolves only the one that recovered', () => {
    const { state, writes } = run([outage, recovery]);
    expect(writes).toHaveLength(3);
    const first = state.get(deviceKey('d420b02000fa'))!;
    const second = state.get(deviceKey('5c5b355114cc'))!;
    expect(first).toMatchObject({ kind: 'device', state: 'open', severity: 'medium', entities: ['d420b02000fa'], device_type: 'ap', event_count: 1, version: 1 });
    expect(first.incident_id).toBe(incidentId(deviceKey('d420b02000fa'), 1629753888000));
    expect(first.title).toBe('AP AP-1 (d420b02000fa) offline');
    expect(second).toMatchObject({
      state: 'resolved',
      opened_at: 1629753888000,
      resolved_at: 1629754300000,
      resolve_reason: 'recovery_event',
      event_count: 2,
      last_event_type: 'device_reconnected',
      version: 2,
    });
  });

  it('adds restart reasons to the open incident', () => {
    const restart = eventFrom('alarms__device-restarted-alarmdef.json', {
      org_id: ORG,
      aps: ['d420b02000fa'],
      hostnames: ['AP-1'],
      timestamp: 1629754000,
    });
    const { state } = run([outage, restart]);
    expect(state.get(deviceKey('d420b02000fa'))!.context).toEqual(['power_cycle']);
    expect(run([restart]).writes).toEqual([]); // nothing open: nothing to annotate
  });

  it('follows a switch down and up, and ignores a recovery older than the outage', () => {
    const down = eventFrom('alarms__switch-down-alarmdef.json');
    // The real samples are out of order: the reconnect (…711) is older than the down (…779).
    const staleUp = eventFrom('alarms__switch-reconnected-alarmdef.json');
    const up = eventFrom('alarms__switch-reconnected-alarmdef.json', { timestamp: 1629919000 });
    const key = 'device:a751df9c-897b-4065-9f34-d784c083dd0d:f4bfa806c96c';
    const afterStale = run([down, staleUp]);
    expect(afterStale.state.get(key)).toMatchObject({ state: 'open', device_type: 'switch', version: 1 });
    const afterUp = run([down, staleUp, up]);
    expect(afterUp.state.get(key)).toMatchObject({ state: 'resolved', resolved_at: 1629919000000 });
  });

  it('follows gateways through device events (GW_DISCONNECTED / GW_CONNECTED)', () => {
    const base = { type: 'GW_DISCONNECTED', device_type: 'gateway', mac: 'f4cc552aba80', text: undefined, vpn_name: undefined };
    const down = eventFrom('device-events__gw-vpn-path-down-constdef.json', base);
    const up = eventFrom('device-events__gw-vpn-path-down-constdef.json', { ...base, type: 'GW_CONNECTED', timestamp: 1598371100 });
    const { state } = run([down, up]);
    expect(state.get('device:b4e16c72-d50e-4c03-a952-a3217e231e2c:f4cc552aba80')).toMatchObject({
      kind: 'device',
      device_type: 'gateway',
      state: 'resolved',
      resolve_reason: 'recovery_event',
    });
  });

  it('opens a new incident (new id, same key) for a down after the resolve', () => {
    const again = eventFrom('alarms__device-down-alarmdef.json', { aps: ['5c5b355114cc'], timestamp: 1629760000 });
    const { state, writes } = run([outage, recovery, again]);
    const incident = state.get(deviceKey('5c5b355114cc'))!;
    expect(incident).toMatchObject({ state: 'open', opened_at: 1629760000000, version: 3, event_count: 1 });
    expect(incident.incident_id).not.toBe(writes[1]!.incident_id);
  });

  it('remembers a recovery that arrived before its down: the late down opens nothing (rule 4)', () => {
    // Org- and site-level deliveries can overtake each other: the reconnect (t=1629754300) first.
    const lateDown = eventFrom('alarms__device-down-alarmdef.json', { aps: ['5c5b355114cc'], hostnames: ['AP-2'] });
    const { state, recoveries, writes } = run([recovery, lateDown]);
    expect(writes).toEqual([]);
    expect(state.get(deviceKey('5c5b355114cc'))).toBeUndefined();
    expect(recoveries.get(deviceKey('5c5b355114cc'))).toMatchObject({ at: 1629754300000 });
    // A down after the remembered recovery is a new outage.
    const newDown = eventFrom('alarms__device-down-alarmdef.json', { aps: ['5c5b355114cc'], timestamp: 1629760000 });
    expect(run([recovery, lateDown, newDown]).state.get(deviceKey('5c5b355114cc'))).toMatchObject({ state: 'open', opened_at: 1629760000000 });
  });

  it('remembers a recovery newer than the one that resolved the incident, and refuses a down between the two', () => {
    const laterUp = eventFrom('alarms__device-reconnected-alarmdef.json', { timestamp: 1629757000 });
    const between = eventFrom('alarms__device-down-alarmdef.json', { aps: ['5c5b355114cc'], timestamp: 1629755000 });
    const { state } = run([outage, recovery, laterUp, between]);
    expect(state.get(deviceKey('5c5b355114cc'))).toMatchObject({ state: 'resolved', resolved_at: 1629754300000, version: 2 });
  });

  it('forgets remembered recoveries after the retention period', () => {
    const { recoveries } = run([recovery]);
    const forget = (now: number) => sweep([], now, rules, recoveries.values()).forgotten;
    expect(forget(1629754300000 + 7 * 86400_000 - 1)).toEqual([]);
    expect(forget(1629754300000 + 7 * 86400_000)).toEqual([deviceKey('5c5b355114cc')]);
  });

  it('changes nothing when an event is delivered twice', () => {
    const once = run([outage, recovery]);
    const twice = run([outage, outage, recovery, recovery]);
    expect(twice.state).toEqual(once.state);
    expect(twice.writes).toHaveLength(once.writes.length);
  });
});

describe('Marvis incidents: one per Mist alarm id', () => {
  it('opens on status open and resolves on status resolved', () => {
    const open = eventFrom('alarms__marvis-bad-cable-open-alarmdef.json');
    const resolved = eventFrom('alarms__marvis-bad-cable-open-alarmdef.json', { status: 'resolved', details: { status: 'resolved' }, timestamp: 1629770000 });
    const key = 'marvis:9747a50a-23f8-4ca5-83c4-102e807874de:faf2de33-41cc-4f05-b52c-be2f1f0d1368';
    const { state } = run([open, resolved]);
    expect(state.get(key)).toMatchObject({
      kind: 'marvis',
      state: 'resolved',
      severity: 'critical',
      resolve_reason: 'mist_resolved',
      resolved_at: 1629770000000,
      entities: ['544b8c18fa66'],
    });
    expect(state.get(key)!.title).toMatch(/^Marvis: Bad cable/);
  });

  it('treats validated as resolved', () => {
    const open = eventFrom('alarms__marvis-ap-offline-alarmdef.json');
    const validated = eventFrom('alarms__marvis-ap-offline-alarmdef.json', { details: { status: 'validated' }, timestamp: 1629830000 });
    expect(run([open, validated]).state.get('marvis:9747a50a-23f8-4ca5-83c4-102e807874de:8ae9914e-6108-46fd-999d-8f8a2344d6cb')!.state).toBe('resolved');
  });
});

describe('security incidents: one per site, resolved by the quiet window', () => {
  const site = 'f688779c-e335-4f88-8d7c-9c5e9964528b';
  const key = `security:b4e16c72-d50e-4c03-a952-a3217e231e2c:${site}`;
  const first = eventFrom('alarms__security-rogue-ap-alarmdef.json');
  const second = eventFrom('alarms__security-rogue-ap-alarmdef.json', { aps: ['5c5b35500999'], bssids: ['aabbccddeeff'], timestamp: 1629863000 });

  it('merges alarms from two APs at one site into one incident with both entities', () => {
    const { state } = run([first, second]);
    const incident = state.get(key)!;
    expect(incident).toMatchObject({ kind: 'security', state: 'open', event_count: 2, severity: 'critical', updated_at: 1629863000000 });
    expect(incident.entities).toEqual(expect.arrayContaining(['5c5b35500442', '5c5b35500999', 'ca3a6bef7457', 'd2143d426fd4', 'aabbccddeeff']));
  });

  it('resolves at last event + window, deterministically, only once the window passed', () => {
    const { state } = run([first, second]);
    expect(sweep(state.values(), 1629863000000 + WINDOW - 1, rules).writes).toEqual([]);
    const { writes } = sweep(state.values(), 1629863000000 + WINDOW + 12345, rules);
    expect(writes).toEqual([expect.objectContaining({ key, state: 'resolved', resolved_at: 1629863000000 + WINDOW, resolve_reason: 'quiet_window' })]);
  });

  it('resolves the old incident and opens a new one when an alarm comes after the window, sweep or not', () => {
    const late = eventFrom('alarms__security-rogue-ap-alarmdef.json', { timestamp: 1629863000 + WINDOW / 1000 + 60 });
    const { writes, state } = run([first, second, late]);
    expect(writes.slice(-2)).toEqual([
      expect.objectContaining({ state: 'resolved', resolved_at: 1629863000000 + WINDOW, resolve_reason: 'quiet_window' }),
      expect.objectContaining({ state: 'open', opened_at: 1629863060000 + WINDOW, event_count: 1 }),
    ]);
    expect(state.get(key)!.version).toBe(4);
  });

  it('forgets resolved incidents after the retention period (tombstone)', () => {
    const { state } = run([first]);
    const resolved = sweep(state.values(), 1629862968000 + WINDOW, rules).writes;
    const later = sweep(resolved, 1629862968000 + WINDOW + 7 * 86400_000, rules);
    expect(later.tombstones).toEqual([key]);
  });
});

describe('replay', () => {
  it('gives identical state when the whole stream is applied again from scratch', () => {
    const stream = [
      eventFrom('alarms__device-down-alarmdef.json', { aps: ['d420b02000fa', '5c5b355114cc'] }),
      eventFrom('alarms__device-reconnected-alarmdef.json', { timestamp: 1629754300 }),
      eventFrom('alarms__security-rogue-ap-alarmdef.json'),
      eventFrom('alarms__marvis-bad-cable-open-alarmdef.json'),
      eventFrom('alarms__switch-down-alarmdef.json'),
      eventFrom('alarms__switch-reconnected-alarmdef.json'),
    ];
    const first = run(stream);
    expect(run(stream).state).toEqual(first.state);
    // and applying it again on top of its own result changes nothing (every event is remembered)
    expect(run(stream, first.state).writes).toEqual([]);
  });
});
