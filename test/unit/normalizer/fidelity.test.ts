import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { MistEvent } from '../../../src/domain/mist-event';
import { eventId } from '../../../src/normalizer/event-id';
import { normalizeWebhook } from '../../../src/normalizer/normalize';
import { DEFAULT_PRIVATE_FIELDS } from '../../../src/normalizer/privacy';
import { eventEnvelope } from '../../../src/sinks/splunk-hec/encoder';
import { sampleJson } from '../../helpers/fixtures';

const RECEIVED = 1795000000000;
const openapi = (name: string): { topic: string; events: Array<Record<string, unknown>> } =>
  JSON.parse(readFileSync(join(__dirname, '..', '..', 'fixtures', 'samples-openapi', name), 'utf8')) as { topic: string; events: Array<Record<string, unknown>> };

function normalize(topic: string, events: unknown[], rules: Parameters<typeof normalizeWebhook>[2] = { map: {}, overrides: {} }): MistEvent[] {
  const result = normalizeWebhook(JSON.stringify({ topic, events }), RECEIVED, rules);
  if ('error' in result) throw new Error(result.error);
  return result.results.map((r) => {
    if (!r.ok) throw new Error(r.error);
    return r.event;
  });
}
const one = (topic: string, event: Record<string, unknown>): MistEvent => normalize(topic, [event])[0]!;

describe('Mist fidelity: identities, severities, states and topics as Mist sends them in 2026', () => {
  it('reads the APs of a Mist Edge tunnel drop (TT_AP_DISCONNECTED disconnected_aps, dash-separated) beside the Mist Edge', () => {
    const event = one('mxedge-events', {
      type: 'TT_AP_DISCONNECTED',
      mxedge_id: '00000000-0000-0000-1000-020000b6bf2b',
      mxedge_name: 'me-hq',
      disconnected_aps: '5c5b35a1b2c3-5C:5B:35:D4:E5:F6',
      org_id: '09dac91f-6e73-4100-89f7-698e0fafbb1b',
      timestamp: 1795000000,
    });
    expect(event.devices).toEqual([
      { mac: '020000b6bf2b', type: 'mxedge', name: 'me-hq' },
      { mac: '5c5b35a1b2c3', type: 'ap', name: null },
      { mac: '5c5b35d4e5f6', type: 'ap', name: null },
    ]);
    expect(event.device_mac).toBe('020000b6bf2b');
  });

  it('answers a bare Mist event (single_event_per_message) with a message that names the option', () => {
    const result = normalizeWebhook(JSON.stringify({ type: 'AP_DISCONNECTED', mac: '5c5b35a1b2c3', org_id: '09dac91f-6e73-4100-89f7-698e0fafbb1b', timestamp: 1795000000 }), RECEIVED, { map: {}, overrides: {} });
    expect(result).toEqual({ error: expect.stringMatching(/single_event_per_message/) });
  });

  it('collapses the org- and the site-level delivery of one event (for_site differs) into one event_id', () => {
    const alarm = sampleJson('alarms__device-down-alarmdef.json').events[0]!;
    const org = one('alarms', { ...alarm, for_site: false });
    const site = one('alarms', { ...alarm, for_site: true });
    expect(site.event_id).toBe(org.event_id);
    expect(one('alarms', alarm).event_id).toBe(org.event_id);
    expect(one('alarms', { ...alarm, count: 2, for_site: true }).event_id).not.toBe(org.event_id);
  });

  it('gives both spellings of a topic one event_id, one sourcetype, and keeps the spelling received in `topic`', () => {
    const body = openapi('location-asset.json').events[0]!;
    const dashed = one('location-asset', body);
    const underscored = one('location_asset', body);
    expect(underscored.event_id).toBe(dashed.event_id);
    expect(underscored.topic).toBe('location_asset');
    expect(dashed.topic).toBe('location-asset');
    const sourcetypes = [dashed, underscored].map((e) => JSON.parse(eventEnvelope(e, { defaultIndex: null, routes: {} })).sourcetype);
    expect(sourcetypes).toEqual(['juniper:mist:location-asset', 'juniper:mist:location-asset']);
    // An unknown topic is canonical too.
    expect(one(' Brand_New_Topic ', { x: 1 }).event_id).toBe(one('brand-new-topic', { x: 1 }).event_id);
  });

  it('pins the 0.2 id recipe: the canonical topic and the event less its delivery flags', () => {
    const alarm = { ...sampleJson('alarms__device-down-alarmdef.json').events[0]!, for_site: true };
    // Unchanged from 0.1 for a hyphenated topic without delivery flags…
    expect(one('alarms', sampleJson('alarms__device-down-alarmdef.json').events[0]!).event_id).toBe('9632cf41ace3784bad84f9c8063599d8');
    expect(eventId('alarms', alarm)).toBe('9632cf41ace3784bad84f9c8063599d8');
    // …and changed for an underscored spelling, which 0.1 hashed as received (README migration note).
    const event = openapi('v2509-location_asset__Example.json').events[0]!;
    expect(one('location_asset', event).event_id).toBe(eventId('location-asset', event));
    expect(one('location_asset', event).event_id).not.toBe(eventId('location_asset', event));
  });

  it('names the Mist Edge of a Mist Edge event, from a MAC-embedded or a plain mxedge_id, never as an AP', () => {
    const [first] = normalize('mxedge-events', openapi('mxedge-events.json').events);
    expect(first).toMatchObject({ device_mac: '020000230522', device_type: 'mxedge', device_name: 'demo123', devices: [{ mac: '020000230522', type: 'mxedge', name: 'demo123' }] });
    const plain = one('mxedge-events', { type: 'ME_DISCONNECTED', mxedge_id: '387804a7-3474-85ce-15a2-f9a9684c9c90', mxedge_name: 'me-1', ap: '5c5b35000001', timestamp: 1763546876 });
    expect(plain).toMatchObject({ device_mac: null, device_type: 'mxedge', device_name: 'me-1', devices: [] });
  });

  it('takes the device type of a device_id from the event, and guesses none', () => {
    const base = openapi('audits.json').events[0]!;
    const switchAudit = one('audits', { ...base, device_id: '00000000-0000-0000-1000-0c8126c7054d', device_type: 'switch' });
    expect(switchAudit).toMatchObject({ device_mac: '0c8126c7054d', device_type: 'switch' });
    const untyped = one('audits', { ...base, device_id: '00000000-0000-0000-1000-0c8126c7054d' });
    expect(untyped).toMatchObject({ device_mac: '0c8126c7054d', device_type: null, devices: [] });
    expect(one('device-events', { type: 'AP_RESTARTED', mac: '5c5b35000001', device_type: 'unknown' }).device_type).toBe('ap');
    expect(one('device-events', { type: 'X_THING', mac: '5c5b35000001', device_type: 'unknown' }).device_type).toBeNull();
  });

  it('splits occupancy alerts: one event per alert_events entry, each with its own type, severity, time, zone, org and id', () => {
    const envelope = openapi('occupancy-alerts.json').events[0]!;
    const entry = (envelope.alert_events as Array<Record<string, unknown>>)[0]!;
    const ok = { ...entry, type: 'COMPLIANCE-OK', timestamp: 1763546876, zone_name: 'Lobby', current_occupancy: 3, occupancy_limit: 10 };
    const events = normalize('occupancy-alerts', [{ ...envelope, alert_events: [{ ...entry, timestamp: 1763546800, zone_name: 'Lobby', current_occupancy: 12, occupancy_limit: 10 }, ok] }]);
    expect(events.map((e) => [e.type, e.severity, e.timestamp, e.org_id, e.site_id])).toEqual([
      ['COMPLIANCE-VIOLATION', 'medium', 1763546800000, 'a40f5d1f-d889-42e9-94ea-b9b33585fc6b', '72771e6a-6f5e-4de4-a5b9-1266c4197811'],
      ['COMPLIANCE-OK', 'informational', 1763546876000, 'a40f5d1f-d889-42e9-94ea-b9b33585fc6b', '72771e6a-6f5e-4de4-a5b9-1266c4197811'],
    ]);
    expect(events[0]!.message).toBe('Occupancy above the limit: Lobby at string (12 of 10)');
    expect(events[0]!.attributes.zone_id).toBe('4495020a-236f-46e0-9453-e3f9cc6476f4');
    expect(events[1]!.event_id).toBe(eventId('occupancy-alerts', { ...envelope, alert_events: [ok] }));
    expect(new Set(events.map((e) => e.event_id)).size).toBe(2);
  });

  it('gives an alarm without group or severity both from the alarm catalogue', () => {
    const event = one('alarms', { type: 'rogue_ap', aps: ['5c5b35500442'], timestamp: 1763546876, id: 'a' });
    expect([event.category, event.severity]).toEqual(['security', 'critical']);
    expect(one('alarms', { type: 'switch_down', switches: ['f4bfa806c96c'], timestamp: 1763546876 })).toMatchObject({ category: 'infrastructure', severity: 'medium', device_type: 'switch' });
  });

  it('maps Marvis states: inprogress and reoccured keep it open; validated, marvis_self_driven and expired resolve it', () => {
    const marvis = sampleJson('alarms__marvis-bad-cable-open-alarmdef.json').events[0]!;
    const state = (status: string): string | null => one('alarms', { ...marvis, status, details: { ...(marvis.details as object), status } }).state;
    expect(['inprogress', 'reoccured', 'open'].map(state)).toEqual(['open', 'open', 'open']);
    expect(['validated', 'resolved', 'marvis_self_driven', 'expired action'].map(state)).toEqual(['resolved', 'resolved', 'resolved', 'resolved']);
  });

  it('reads Marvis impacted entities that name devices by other fields (connected_switch_mac)', () => {
    const marvis = sampleJson('alarms__marvis-bad-cable-open-alarmdef.json').events[0]!;
    const event = one('alarms', { ...marvis, impacted_entities: [{ entity_type: 'client', entity_mac: 'aabbccddeeff', connected_switch_mac: '54:4B:8C:18:FA:66' }] });
    expect(event.devices).toEqual([{ mac: '544b8c18fa66', type: 'switch', name: null }]);
  });

  it('says what happened in a zone: the trigger, the zone, and the client MAC lifted', () => {
    const zone = one('zone', { ...openapi('zone.json').events[0]!, mac: '5C-5B-35-00-00-01', trigger: 'exit' });
    expect(zone.client_mac).toBe('5c5b35000001');
    expect(zone.message).toBe('Zone exit: string (wifi) left d38f8e76-40db-4144-8cbb-1266c4197811 at 72771e6a-6f5e-4de4-a5b9-1266c4197811');
    const rssi = one('rssizone', openapi('rssizone.json').events[0]!);
    expect(rssi.message).toMatch(/^RSSI zone enter: 500291xxxxxx \(wifi\) entered e38f8e76/);
  });

  it('reads the nil site as no site, dash-separated MACs, disconnected_aps, and the device of an other-device event', () => {
    expect(one('alarms', { type: 'device_down', site_id: '00000000-0000-0000-0000-000000000000', aps: ['5C-5B-35-00-00-01'] })).toMatchObject({ site_id: null, device_mac: '5c5b35000001' });
    expect(one('alarms', { type: 'ap_disconnected', disconnected_aps: ['5c5b35000002'] }).devices).toEqual([{ mac: '5c5b35000002', type: 'ap', name: null }]);
    const cellular = one('device-events', { type: 'CELLULAR_EDGE_MODEM_WAN_PLUGGED', mac: '0030447771c0', device_mac: '5c5b351e13b5', vendor: 'cradlepoint' });
    expect(cellular).toMatchObject({ device_mac: '0030447771c0', device_type: null });
  });

  it('catalogues filtered-asset-rssi like asset-raw-rssi (the AP that heard it) and handles vbeacon generically', () => {
    const body = openapi('asset-raw-rssi.json').events[0]!;
    expect(one('filtered-asset-rssi', body)).toMatchObject({ category: 'location', device_mac: 'ac2316eca70b', device_type: 'ap' });
    expect(one('vbeacon', { id: 'b', timestamp: 1763546876 })).toMatchObject({ category: 'location', type: 'vbeacon', severity: 'informational' });
  });

  it('treats NAC identity-provider and certificate names as personal data by default', () => {
    expect(DEFAULT_PRIVATE_FIELDS['nac-events']).toEqual(expect.arrayContaining(['idp_username', 'cert_cn', 'cert_subject', 'cert_san_upn']));
    const [event] = normalize('nac_events', [{ type: 'NAC_CLIENT_PERMIT', mac: 'ac3eb179e535', idp_username: 'jane@example.com', cert_cn: 'jane', cert_san_upn: 'jane@corp' }], {
      map: {},
      overrides: {},
      privacy: { mode: 'redact', key: null, fields: DEFAULT_PRIVATE_FIELDS },
    });
    expect([event!.attributes.idp_username, event!.attributes.cert_cn, event!.attributes.cert_san_upn]).toEqual(['[redacted]', '[redacted]', '[redacted]']);
  });

  it('refuses a body without an events array, naming single_event_per_message', () => {
    const result = normalizeWebhook(JSON.stringify({ topic: 'device-events', type: 'AP_RESTARTED' }), RECEIVED, { map: {}, overrides: {} });
    expect(result).toEqual({ error: expect.stringMatching(/events.*single_event_per_message/) });
  });
});
