import { normalizeEvent } from '../../../src/normalizer/normalize';
import { DEFAULT_SEVERITY_MAP, SEVERITY_IDS, severityOf } from '../../../src/normalizer/severity';

const defaults = { map: {}, overrides: {} };

describe('severity mapping (CONTRACT section 5)', () => {
  it.each([
    ['critical', 'critical'],
    ['major', 'high'],
    ['warn', 'medium'],
    ['warning', 'medium'],
    ['minor', 'low'],
    ['notice', 'low'],
    ['NOTICE', 'low'],
    ['info', 'informational'],
  ])('Mist %s → %s', (mist, expected) => {
    expect(severityOf('alarms', 'x', { severity: mist }, null, defaults)).toBe(expected);
  });

  it('never ranks warn above critical nor info above warn', () => {
    const rank = (word: string): number => SEVERITY_IDS[DEFAULT_SEVERITY_MAP[word]!];
    expect(rank('critical')).toBeGreaterThan(rank('warn'));
    expect(rank('warn')).toBeGreaterThan(rank('info'));
    expect(rank('major')).toBeGreaterThan(rank('warn'));
    expect(rank('notice')).toBeLessThan(rank('warn'));
  });

  it('derives a severity from the type when Mist sends none', () => {
    expect(severityOf('device-events', 'AP_DISCONNECTED', {}, null, defaults)).toBe('medium');
    expect(severityOf('device-events', 'SW_PORT_DOWN', {}, null, defaults)).toBe('medium');
    expect(severityOf('device-events', 'AP_RADSEC_FAILURE', {}, null, defaults)).toBe('medium');
    expect(severityOf('nac-events', 'NAC_CLIENT_DENY', {}, null, defaults)).toBe('medium');
    expect(severityOf('device-events', 'AP_CONNECTED', {}, null, defaults)).toBe('informational');
    expect(severityOf('device-events', 'SW_DOWNLOAD_DONE', {}, null, defaults)).toBe('informational');
  });

  it('takes severities from the device-event table, the type outranking a generic ev_type NOTICE', () => {
    expect(severityOf('device-events', 'SW_VC_MASTER_CHANGED', {}, null, defaults)).toBe('medium');
    expect(severityOf('device-events', 'SW_STP_TOPO_CHANGED', {}, null, defaults)).toBe('low');
    expect(severityOf('device-events', 'GW_HA_HEALTH_WEIGHT_LOW', {}, null, defaults)).toBe('medium');
    expect(severityOf('device-events', 'AP_DISCONNECTED', { ev_type: 'NOTICE' }, null, defaults)).toBe('medium');
    expect(severityOf('device-events', 'AP_CONFIG_CHANGED_BY_USER', { ev_type: 'NOTICE' }, null, defaults)).toBe('low');
    expect(severityOf('device-events', 'AP_CONNECTED', { ev_type: 'warn' }, null, defaults)).toBe('medium');
    expect(severityOf('mxedge-events', 'ME_PSU_UNPLUGGED', {}, null, defaults)).toBe('high');
    expect(severityOf('mxedge-events', 'ME_PSU_UNPLUGGED', { severity: 'critical' }, null, defaults)).toBe('critical');
  });

  it('rates a failed Marvis Minis probe and an occupancy violation above informational', () => {
    expect(severityOf('minis-application', 'minis-application', { success: true, loss_percentage: 0 }, null, defaults)).toBe('informational');
    expect(severityOf('minis-application', 'minis-application', { success: false, loss_percentage: 30 }, null, defaults)).toBe('medium');
    expect(severityOf('minis-reachability', 'minis-reachability', { success: false, loss_percentage: 100 }, null, defaults)).toBe('high');
    expect(severityOf('occupancy-alerts', 'COMPLIANCE-VIOLATION', {}, null, defaults)).toBe('medium');
    expect(severityOf('occupancy-alerts', 'COMPLIANCE-OK', {}, null, defaults)).toBe('informational');
  });

  it('falls back to the alarm catalogue default when the alarm carries no severity', () => {
    expect(severityOf('alarms', 'rogue_ap', {}, 'critical', defaults)).toBe('critical');
  });

  it('applies the config file: type overrides, topic wildcards, remapped words', () => {
    const rules = { map: { warn: 'high' as const }, overrides: { alarms: { rogue_ap: 'low' as const }, audits: { '*': 'medium' as const } } };
    expect(severityOf('alarms', 'rogue_ap', { severity: 'critical' }, null, rules)).toBe('low');
    expect(severityOf('audits', 'audits', {}, null, rules)).toBe('medium');
    expect(severityOf('alarms', 'device_down', { severity: 'warn' }, null, rules)).toBe('high');
  });

  it.each(['constructor', '__proto__', 'toString'])('treats %s, a name on every object, as an unknown word', (word) => {
    expect(severityOf(word, word, { severity: word }, null, { map: { warn: 'high' }, overrides: { alarms: { '*': 'low' } } })).toBe('informational');
    const result = normalizeEvent(word, { type: word, severity: word }, 1_700_000_000_000, defaults);
    expect(result.ok && [result.event.severity, result.event.category]).toEqual(['informational', 'other']);
  });
});
