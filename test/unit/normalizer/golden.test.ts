import { normalizeWebhook, type Normalized } from '../../../src/normalizer/normalize';
import type { MistEvent } from '../../../src/domain/mist-event';
import { AvroCodec } from '../../../src/shared/avro';
import { sample, sampleFiles, sampleJson } from '../../helpers/fixtures';

const RECEIVED = Date.UTC(2026, 10, 22, 12, 0, 0);
const rules = { map: {}, overrides: {} };
const codec = new AvroCodec<MistEvent>('mist-event.avsc');

type Row = [timestampMs: number, timeSource: string, severity: string, category: string, deviceMac: string | null, deviceType: string | null];

/**
 * Expected facts per sample and event, worked out by hand from the payloads and CONTRACT section 5
 * (seconds → ms; ISO without zone = UTC; 0 and "string" placeholders are not times → received_at).
 */
const GOLDEN: Record<string, Row[]> = {
  'alarms__device-down-alarmdef.json': [[1629753888000, 'timestamp', 'medium', 'infrastructure', 'd420b02000fa', 'ap']],
  'alarms__device-reconnected-alarmdef.json': [[1629754258000, 'timestamp', 'informational', 'infrastructure', '5c5b355114cc', 'ap']],
  'alarms__device-restarted-alarmdef.json': [[1629754030000, 'timestamp', 'informational', 'infrastructure', '5c5b350e1d1f', 'ap']],
  'alarms__infra-dhcp-failure-alarmdef.json': [[1629754258000, 'timestamp', 'critical', 'infrastructure', '5c5b355114cc', 'ap']],
  'alarms__infra-dhcp-success-alarmdef.json': [[1629754258000, 'timestamp', 'informational', 'infrastructure', '5c5b355114cc', 'ap']],
  'alarms__loop-detected-by-ap-alarmdef.json': [[1629918779000, 'timestamp', 'medium', 'infrastructure', '5c5b355114cc', 'ap']],
  'alarms__marvis-ap-bad-cable-resolved-real-2025.json': [[1749826902034, 'timestamp', 'critical', 'marvis', 'xxxxxxxxxxxx', 'ap']],
  'alarms__marvis-ap-offline-alarmdef.json': [[1629821184000, 'timestamp', 'critical', 'marvis', '5c5b350eb27b', 'ap']],
  'alarms__marvis-authentication-failure-alarmdef.json': [[1631854164000, 'timestamp', 'critical', 'marvis', null, null]],
  'alarms__marvis-bad-cable-open-alarmdef.json': [[1629760130000, 'timestamp', 'critical', 'marvis', '544b8c18fa66', 'switch']],
  'alarms__marvis-bad-wan-uplink-alarmdef.json': [[1629760130000, 'timestamp', 'critical', 'marvis', '02000187f553', 'gateway']],
  'alarms__marvis-missing-vlan-alarmdef.json': [[1629760130000, 'timestamp', 'critical', 'marvis', '182ad3558f0d', 'switch']],
  'alarms__rogue-ap-detected-juniper-docs.json': [[1549068202000, 'timestamp', 'informational', 'infrastructure', '5c5b35xxxxxx', 'ap']],
  'alarms__schema-placeholder.json': [[RECEIVED, 'received', 'informational', 'infrastructure', 'string', 'ap']],
  'alarms__security-bssid-spoofing-alarmdef.json': [[1626694986000, 'timestamp', 'informational', 'security', '5c5b35ce1111', 'ap']],
  'alarms__security-rogue-ap-alarmdef.json': [[1629862968000, 'timestamp', 'critical', 'security', '5c5b35500442', 'ap']],
  'alarms__security-rogue-client-alarmdef.json': [[1629139377000, 'timestamp', 'critical', 'security', '5c5b350edd65', 'ap']],
  'alarms__security-secpolicy-violation-alarmdef.json': [[1633084683000, 'timestamp', 'medium', 'security', '5c5b350f3208', 'ap']],
  'alarms__sw-alarm-chassis-poe-alarmdef.json': [[1630475624000, 'timestamp', 'medium', 'infrastructure', 'f4bfa806c96c', 'switch']],
  'alarms__switch-down-alarmdef.json': [[1629918779000, 'timestamp', 'medium', 'infrastructure', 'f4bfa806c96c', 'switch']],
  'alarms__switch-reconnected-alarmdef.json': [[1629911711000, 'timestamp', 'informational', 'infrastructure', 'f4bfa806c96c', 'switch']],
  'alarms__switch-restarted-alarmdef.json': [[1629911554000, 'timestamp', 'informational', 'infrastructure', 'f4bfa806c96c', 'switch']],
  'alarms__vc-master-changed-alarmdef.json': [[1629911533000, 'timestamp', 'critical', 'infrastructure', 'f4bfa806c96c', 'switch']],
  'asset-raw-rssi__two-beacons.json': [
    [1661300746000, 'timestamp', 'informational', 'location', 'ac2316eca70b', 'ap'],
    [1661300746000, 'timestamp', 'informational', 'location', 'ac2316eca70b', 'ap'],
  ],
  'audits__accessed-org-real.json': [[1695171740806, 'timestamp', 'informational', 'audit', null, null]],
  'audits__update-site-settings-before-after.json': [[1685956576924, 'timestamp', 'informational', 'audit', null, null]],
  'client-info__hostname-ip.json': [[1703003296000, 'timestamp', 'informational', 'client', null, null]],
  'client-join__wireless-real.json': [[1695172665000, 'timestamp', 'informational', 'client', 'xx2316ed6axx', 'ap']],
  'client-latency__site-avg.json': [[1696401600000, 'timestamp', 'informational', 'client', null, null]],
  'client-sessions__disassociate-real.json': [[1695189374000, 'timestamp', 'informational', 'client', 'xx2316ed6axx', 'ap']],
  'client-sessions__schema-placeholder.json': [[RECEIVED, 'received', 'informational', 'client', 'string', 'ap']],
  'device-events__ap-config-changed-by-user-real-2025.json': [[1749101162000, 'timestamp', 'low', 'device', 'xxxxxxxxxxxx', 'ap']],
  'device-events__ap-connected-constdef.json': [[1552408871000, 'timestamp', 'informational', 'device', '5c5b35000001', 'ap']],
  'device-events__ap-connectivity-test-real-2025.json': [[1749073097000, 'timestamp', 'informational', 'device', 'xxxxxxxxxxxx', 'ap']],
  'device-events__ap-disconnected-constdef.json': [[1552408871000, 'timestamp', 'medium', 'device', '5c5b35000001', 'ap']],
  'device-events__ap-radsec-failure-constdef.json': [[1654148714073, 'timestamp', 'medium', 'device', 'd420b0f1030c', 'ap']],
  'device-events__ap-restart-sequence-real.json': [
    [1631648305000, 'timestamp', 'low', 'device', '5c5b35f1f470', 'ap'],
    [1631648305000, 'timestamp', 'low', 'device', '5c5b35f1f470', 'ap'],
    [1631648305000, 'timestamp', 'low', 'device', '5c5b35f1f470', 'ap'],
  ],
  'device-events__ap-restarted-upgrade-constdef.json': [[1552408871000, 'timestamp', 'low', 'device', '5c5b35000001', 'ap']],
  'device-events__gw-vpn-path-down-constdef.json': [[1598371008000, 'timestamp', 'medium', 'device', 'f4cc552aba80', 'gateway']],
  'device-events__sw-disconnected-real-2025.json': [[1749080793000, 'timestamp', 'medium', 'device', '60c78dxxxxxx', 'switch']],
  'device-events__sw-port-down-constdef.json': [[1575935387000, 'timestamp', 'medium', 'device', '0c8126c7054d', 'switch']],
  'device-events__sw-restarted-constdef.json': [[1612430856000, 'timestamp', 'low', 'device', '408f9d04245f', 'switch']],
  'device-updowns__schema-placeholder.json': [[RECEIVED, 'received', 'informational', 'device', 'string', 'ap']],
  'discovered-raw-rssi__schema-placeholder.json': [[RECEIVED, 'received', 'informational', 'other', null, null]],
  'guest-authorizations__portal.json': [[1677076519000, 'authorized_time', 'informational', 'client', '5c5b350e55c8', 'ap']],
  'location__schema-placeholder.json': [[RECEIVED, 'received', 'informational', 'location', null, null]],
  'location_asset__ble-asset.json': [[1461220784000, 'timestamp', 'informational', 'location', null, null]],
  'location_centrak__wifi.json': [[1461220784000, 'timestamp', 'informational', 'location', null, null]],
  'location_client__wifi.json': [[1461220784000, 'timestamp', 'informational', 'location', null, null]],
  'location_sdk__sdk-client.json': [[1461220784000, 'timestamp', 'informational', 'location', null, null]],
  'location_unclient__wifi.json': [[1461220784000, 'timestamp', 'informational', 'location', null, null]],
  // A failed probe (`success: false`) is trouble, not information.
  'minis-application__curl-probe.json': [[1775641319000, 'timestamp', 'medium', 'sle', '003e7316fd96', 'ap']],
  'mxedge-events__me-disconnected-constdef.json': [[1552408871000, 'timestamp', 'medium', 'mxedge', null, 'mxedge']],
  'mxedge-events__me-psu-unplugged-constdef.json': [[1552408871000, 'timestamp', 'critical', 'mxedge', null, 'mxedge']],
  'nac-events__client-permit.json': [[1691512031358, 'timestamp', 'informational', 'other', '5c5b35513227', 'ap']],
  'ping__delivery-test.json': [[1685985159010, 'timestamp', 'informational', 'ping', null, null]],
  'site_sle__scores.json': [[1694620800000, 'timestamp', 'informational', 'sle', null, null]],
  'wifi-conn-raw__two-clients.json': [
    [RECEIVED, 'received', 'informational', 'location', 'ac2316eca70b', 'ap'],
    [RECEIVED, 'received', 'informational', 'location', 'ac2316eca70b', 'ap'],
  ],
  'zone__asset-enter-schema.json': [[RECEIVED, 'received', 'informational', 'location', null, null]],
};

function normalizeSample(name: string): MistEvent[] {
  const result = normalizeWebhook(sample(name), RECEIVED, rules);
  if ('error' in result) throw new Error(result.error);
  return result.results.map((r: Normalized) => {
    if (!r.ok) throw new Error(r.error);
    return r.event;
  });
}

describe('normalizer golden facts over every Mist sample', () => {
  it('has a golden row set for every fixture', () => {
    expect(Object.keys(GOLDEN).sort()).toEqual(sampleFiles());
  });

  describe.each(sampleFiles())('%s', (name) => {
    const body = sampleJson(name);
    const events = normalizeSample(name);
    const golden = GOLDEN[name]!;

    it('splits into one normalized event per Mist event', () => {
      expect(events).toHaveLength(body.events.length);
      expect(golden).toHaveLength(body.events.length);
    });

    it.each(golden.map((row, i) => [i, ...row] as const))('event %i: time, severity, category, device', (i, ts, source, severity, category, mac, type) => {
      const event = events[i]!;
      expect(event.timestamp).toBe(ts);
      expect(event.time_source).toBe(source);
      expect(event.severity).toBe(severity);
      expect(event.category).toBe(category);
      expect(event.device_mac).toBe(mac);
      expect(event.device_type).toBe(type);
    });

    it('keeps identity fields as sent and fills the contract fields', () => {
      events.forEach((event, i) => {
        const raw = body.events[i]!;
        expect(event.org_id).toBe(typeof raw.org_id === 'string' ? raw.org_id : null);
        expect(event.site_id).toBe(typeof raw.site_id === 'string' ? raw.site_id : null);
        expect(event.topic).toBe(body.topic.toLowerCase());
        expect(event.type).toBe(typeof raw.type === 'string' ? raw.type : body.topic.toLowerCase());
        expect(event.event_id).toMatch(/^[0-9a-f]{32}$/);
        expect(event.received_at).toBe(RECEIVED);
        expect(event.message.trim().length).toBeGreaterThan(0);
        expect(event.severity_id).toBe({ critical: 5, high: 4, medium: 3, low: 2, informational: 1 }[event.severity]);
        for (const value of Object.values(event.attributes)) expect(typeof value).toBe('string');
      });
    });

    it('round-trips through the Avro schema unchanged', () => {
      for (const event of events) {
        expect(codec.problems(event)).toEqual([]);
        const decoded = codec.decode(codec.encode(event), codec.fingerprint);
        expect(JSON.parse(JSON.stringify(decoded))).toEqual(JSON.parse(JSON.stringify(event)));
      }
    });
  });
});

describe('normalizer details on real samples', () => {
  it('names every device of a multi-device alarm with its hostname', () => {
    const [event] = normalizeSample('alarms__device-restarted-alarmdef.json');
    expect(event!.devices).toEqual([
      { mac: '5c5b350e1d1f', type: 'ap', name: 'AP1' },
      { mac: '5c5b353ed0bb', type: 'ap', name: 'AP3' },
    ]);
    expect(event!.reasons).toEqual(['power_cycle']);
    expect(event!.count).toBe(2);
    expect(event!.mist_id).toBe('94d015f6-5f8f-44a0-a75e-02e70969803a');
  });

  it('reads Marvis state from status first, and ISO last_seen stays in attributes', () => {
    const [resolved] = normalizeSample('alarms__marvis-ap-bad-cable-resolved-real-2025.json');
    expect(resolved!.state).toBe('resolved');
    expect(resolved!.attributes.last_seen).toBe('2025-04-01T16:58:27');
    expect(resolved!.attributes['details.symptom']).toBe('bad_cable');
    const [open] = normalizeSample('alarms__marvis-ap-offline-alarmdef.json');
    expect(open!.state).toBe('open');
    const [statusWins] = normalizeSample('alarms__marvis-missing-vlan-alarmdef.json');
    expect(statusWins!.state).toBe('resolved');
  });

  it('writes the contract example message for a device outage', () => {
    const [event] = normalizeSample('alarms__device-down-alarmdef.json');
    expect(event!.message).toBe('Device offline: Vendor_AP2 (d420b02000fa) at dcfb31a1-d615-4361-8c95-b9dde05aa704');
    expect(event!.mist_severity).toBe('warn');
  });

  it('takes the client MAC and AP of client sessions, flattening the rest', () => {
    const [event] = normalizeSample('client-sessions__disassociate-real.json');
    expect(event!.client_mac).toBe('xxdd8e7508xx');
    expect(event!.device_name).toBe('Pradeep AP 01');
    expect(event!.attributes.termination_reason).toBe('1');
    expect(event!.attributes.duration).toBe('16709.393960068');
  });

  it('keeps arrays as JSON text, and reads audit before/after whether Mist sends them as JSON strings or objects', () => {
    const [audit] = normalizeSample('audits__update-site-settings-before-after.json');
    const flattened = Object.keys(audit!.attributes).filter((k) => k.startsWith('after.radio_config.'));
    expect(flattened.length).toBeGreaterThan(0);
    const sent = sampleJson('audits__update-site-settings-before-after.json');
    const asObjects = { ...sent, events: [{ ...sent.events[0], before: JSON.parse(sent.events[0]!.before as string), after: JSON.parse(sent.events[0]!.after as string) }] };
    const objects = normalizeWebhook(JSON.stringify(asObjects), RECEIVED, rules);
    const fromObjects = 'results' in objects && objects.results[0]!.ok ? objects.results[0]!.event : null;
    expect(fromObjects!.attributes).toEqual(audit!.attributes);
    // The spec example carries the placeholder topic "string": unknown topics keep no client identity.
    const [placeholder] = normalizeSample('nac-events__client-permit.json');
    expect(JSON.parse(placeholder!.attributes.resp_attrs!)).toHaveLength(4);
    expect(placeholder!.client_mac).toBeNull();
    const body = { ...sampleJson('nac-events__client-permit.json'), topic: 'nac-events' };
    const result = normalizeWebhook(JSON.stringify(body), RECEIVED, rules);
    const nac = 'results' in result && result.results[0]!.ok ? result.results[0]!.event : null;
    expect(nac?.category).toBe('nac');
    expect(nac?.client_mac).toBe('ac3eb179e535');
  });

  it('turns the dash-separated MACs of raw Wi-Fi topics into the common spelling', () => {
    const events = normalizeSample('wifi-conn-raw__two-clients.json');
    expect(events.map((e) => e.client_mac)).toEqual(['28f0762d221e', '38f9d399086e']);
  });

  it('gives three same-second restart events three different ids', () => {
    const ids = normalizeSample('device-events__ap-restart-sequence-real.json').map((e) => e.event_id);
    expect(new Set(ids).size).toBe(3);
  });
});
