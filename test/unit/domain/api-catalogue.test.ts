import { ApiCatalogue, CATALOGUE_KEYS, encodeCatalogue } from '../../../src/domain/api-catalogue';
import { normalizeWebhook } from '../../../src/normalizer/normalize';

const catalogue = new ApiCatalogue();
catalogue.apply(CATALOGUE_KEYS.alarmDefs, encodeCatalogue([{ key: 'ap_radar_storm', display: 'Radar storm', group: 'security', severity: 'critical', fields: ['aps'] }, { nokey: true }]));
catalogue.apply(CATALOGUE_KEYS.deviceEvents, encodeCatalogue([{ key: 'AP_QUANTUM_TUNNEL_UP', display: 'Quantum tunnel up', description: 'later' }]));

function one(topic: string, event: Record<string, unknown>, overrides = {}) {
  const result = normalizeWebhook(JSON.stringify({ topic, events: [event] }), 1795000000000, { map: {}, overrides, catalogue });
  if ('error' in result || !result.results[0]!.ok) throw new Error('not normalized');
  return result.results[0] as { ok: true; event: { severity: string; category: string; message: string }; catalogue?: string };
}

describe("Mist's catalogues in the normalizer", () => {
  it("gives an alarm the built-in table lacks the catalogue's group, severity and words", () => {
    const r = one('alarms', { type: 'ap_radar_storm', aps: ['5c5b35000001'], site_id: 's1', timestamp: 1795000000 });
    expect(r).toMatchObject({ catalogue: 'api', event: { severity: 'critical', category: 'security', message: 'Radar storm: 5c5b35000001 at s1' } });
  });

  it('a YAML override wins over the catalogue; the built-in table over the catalogue', () => {
    expect(one('alarms', { type: 'ap_radar_storm', timestamp: 1795000000 }, { alarms: { ap_radar_storm: 'low' } }).event.severity).toBe('low');
    expect(one('alarms', { type: 'device_down', aps: ['5c5b35000001'], timestamp: 1795000000 })).toMatchObject({ catalogue: 'builtin', event: { message: expect.stringMatching(/^Device offline/) } });
  });

  it("gives a device event the catalogue's display as its message, keeping the type rule's severity", () => {
    const r = one('device-events', { type: 'AP_QUANTUM_TUNNEL_UP', mac: '5c5b35000001', site_id: 's1', timestamp: 1795000000 });
    expect(r).toMatchObject({ catalogue: 'api', event: { message: 'Quantum tunnel up: 5c5b35000001 at s1' } });
    expect(r.event.severity).toBe(one('device-events', { type: 'AP_UNKNOWN_ELSEWHERE', mac: '5c5b35000001', timestamp: 1795000000 }).event.severity);
    expect(one('device-events', { type: 'AP_UNKNOWN_ELSEWHERE', timestamp: 1795000000 }).catalogue).toBe('none');
  });

  it('a tombstone or foreign value empties a catalogue; other inventory keys are not its business', () => {
    const c = new ApiCatalogue();
    c.apply(CATALOGUE_KEYS.alarmDefs, encodeCatalogue([{ key: 'x', severity: 'critical' }]));
    c.apply('device:o:5c5b35000001', Buffer.from('{}'));
    expect(c.alarm('X')).toEqual({ severity: 'critical' });
    c.apply(CATALOGUE_KEYS.alarmDefs, null);
    expect(c.alarm('x')).toBeUndefined();
  });
});
