import { parseFilter, showsEvent, showsIncident } from '../../../src/tail/filter';
import { eventFrom } from '../../helpers/events';

describe('tail filters (CONTRACT section 1)', () => {
  const down = eventFrom('alarms__device-down-alarmdef.json'); // medium, site dcfb31a1…
  const restart = eventFrom('device-events__ap-restart-sequence-real.json', {}, 1); // AP_RESTARTED, low

  it('takes either spelling of a topic, a site by id or name, and a severity and above', () => {
    const filter = (values: Record<string, string>) => {
      const parsed = parseFilter(values);
      if ('problem' in parsed) throw new Error(parsed.problem);
      return parsed;
    };
    expect(showsEvent(filter({ topic: 'device_events' }), restart)).toBe(true);
    expect(showsEvent(filter({ topic: 'device_events' }), down)).toBe(false);
    expect(showsEvent(filter({ site: 'dcfb31a1-d615-4361-8c95-b9dde05aa704' }), down)).toBe(true);
    expect(showsEvent(filter({ site: 'HQ' }), { ...down, site_name: 'HQ' })).toBe(true);
    expect(showsEvent(filter({ site: 'HQ' }), down)).toBe(false);
    expect(showsEvent(filter({ severity: 'medium' }), down)).toBe(true);
    expect(showsEvent(filter({ severity: 'MEDIUM' }), restart)).toBe(false);
    expect(showsEvent(filter({ severity: 'low' }), restart)).toBe(true);
    expect(parseFilter({ severity: 'urgent' })).toEqual({ problem: expect.stringMatching(/severity must be/) });
  });

  it('shows incidents only when asked', () => {
    const incident = { site_id: 's', site_name: 'HQ', severity: 'high' } as Parameters<typeof showsIncident>[1];
    expect(showsIncident({}, incident)).toBe(false);
    expect(showsIncident({ incidents: true, severity: 'critical' }, incident)).toBe(false);
    expect(showsIncident({ incidents: true, site: 'HQ' }, incident)).toBe(true);
  });
});
