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
    expect(severityOf('alarms', 'x', mist, null, defaults)).toBe(expected);
  });

  it('never ranks warn above critical nor info above warn', () => {
    const rank = (word: string): number => SEVERITY_IDS[DEFAULT_SEVERITY_MAP[word]!];
    expect(rank('critical')).toBeGreaterThan(rank('warn'));
    expect(rank('warn')).toBeGreaterThan(rank('info'));
    expect(rank('major')).toBeGreaterThan(rank('warn'));
    expect(rank('notice')).toBeLessThan(rank('warn'));
  });

  it('derives a severity from the type when Mist sends none', () => {
    expect(severityOf('device-events', 'AP_DISCONNECTED', null, null, defaults)).toBe('medium');
    expect(severityOf('device-events', 'SW_PORT_DOWN', null, null, defaults)).toBe('medium');
    expect(severityOf('device-events', 'AP_RADSEC_FAILURE', null, null, defaults)).toBe('medium');
    expect(severityOf('nac-events', 'NAC_CLIENT_DENY', null, null, defaults)).toBe('medium');
    expect(severityOf('device-events', 'AP_CONNECTED', null, null, defaults)).toBe('informational');
    expect(severityOf('device-events', 'SW_DOWNLOAD_DONE', null, null, defaults)).toBe('informational');
  });

  it('falls back to the alarm catalogue default when the alarm carries no severity', () => {
    expect(severityOf('alarms', 'rogue_ap', null, 'critical', defaults)).toBe('critical');
  });

  it('applies the config file: type overrides, topic wildcards, remapped words', () => {
    const rules = { map: { warn: 'high' as const }, overrides: { alarms: { rogue_ap: 'low' as const }, audits: { '*': 'medium' as const } } };
    expect(severityOf('alarms', 'rogue_ap', 'critical', null, rules)).toBe('low');
    expect(severityOf('audits', 'audits', null, null, rules)).toBe('medium');
    expect(severityOf('alarms', 'device_down', 'warn', null, rules)).toBe('high');
  });

  it.each(['constructor', '__proto__', 'toString'])('treats %s, a name on every object, as an unknown word', (word) => {
    expect(severityOf(word, word, word, null, { map: { warn: 'high' }, overrides: { alarms: { '*': 'low' } } })).toBe('informational');
    const result = normalizeEvent(word, { type: word, severity: word }, 1_700_000_000_000, defaults);
    expect(result.ok && [result.event.severity, result.event.category]).toEqual(['informational', 'other']);
  });
});
