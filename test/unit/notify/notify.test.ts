import type { NotifyDestination } from '../../../src/config/config';
import type { Incident } from '../../../src/domain/incident';
import { bodies, duration, line } from '../../../src/notify/messages';
import { forcedTransition, mergeTransitions, transitionsOf, wanted, type Seen } from '../../../src/notify/transitions';

const incident = (patch: Partial<Incident>): Incident => ({
  incident_id: 'i1', key: 'device:o:aa', kind: 'device', state: 'open', severity: 'medium', severity_id: 3, title: 'AP AP-1 (aa) offline at HQ',
  org_id: 'o', site_id: 's', site_name: 'HQ', entities: ['aa'], opened_at: 0, updated_at: 0, resolved_at: null, resolve_reason: null,
  event_count: 1, last_event_id: 'e', last_event_type: 'device_down', context: [], version: 1, device_type: 'ap', applied_event_ids: [], ...patch,
});
const destination = (patch: Partial<NotifyDestination>): NotifyDestination => ({ name: 'slack', kind: 'slack', url: 'https://hooks.example.com/x', minSeverity: 'medium', sites: null, alarmTypes: null, kinds: null, events: null, ratePerS: 1, ...patch });

describe('transitionsOf', () => {
  it('opened, then resolved; an update is none; a redelivered version changes nothing', () => {
    const seen: Seen = new Map();
    expect(transitionsOf([incident({})], seen).map((t) => t.transition)).toEqual(['opened']);
    expect(transitionsOf([incident({ version: 2, event_count: 2, updated_at: 5 }), incident({})], seen)).toEqual([]);
    expect(transitionsOf([incident({ version: 3, state: 'resolved', resolved_at: 40_000, resolve_reason: 'recovery_event' })], seen)).toEqual([expect.objectContaining({ transition: 'resolved', openedToo: false })]);
  });

  it('an incident that opens and resolves within the window is one resolved, with its opening', () => {
    const t = transitionsOf([incident({}), incident({ version: 2, state: 'resolved', resolved_at: 40_000 })], new Map());
    expect(t).toEqual([expect.objectContaining({ transition: 'resolved', openedToo: true })]);
    expect(line(t[0]!)).toBe('[resolved] AP AP-1 (aa) offline at HQ: resolved after 40 s (opened 1970-01-01 00:00 UTC)');
  });

  it('the next incident of a key is announced whatever its version (the key was forgotten: its versions start again)', () => {
    const seen: Seen = new Map([['device:o:aa', { incident_id: 'i1', state: 'resolved' as const, version: 3 }]]);
    expect(transitionsOf([incident({ incident_id: 'i2', version: 1 })], seen)).toEqual([expect.objectContaining({ transition: 'opened', incident: expect.objectContaining({ incident_id: 'i2' }) })]);
  });

  it('an incident never seen is announced from whatever version comes first (its opening may have been compacted away)', () => {
    expect(transitionsOf([incident({ version: 4, event_count: 3, updated_at: 9 })], new Map()).map((t) => t.transition)).toEqual(['opened']);
  });
});

describe('mergeTransitions (one group window)', () => {
  const resolved = incident({ version: 2, state: 'resolved', resolved_at: 40_000 });

  it('an opening then its resolution is one resolved that opened too', () => {
    const [opened] = transitionsOf([incident({})], new Map());
    const [closed] = transitionsOf([resolved], new Map([['device:o:aa', { incident_id: 'i1', state: 'open' as const, version: 1 }]]));
    expect(mergeTransitions([opened!, closed!])).toEqual([expect.objectContaining({ transition: 'resolved', openedToo: true, incident: resolved })]);
  });

  it('a redriven opening that comes after its resolution never undoes it (the resolution would be lost)', () => {
    const [closed] = transitionsOf([resolved], new Map([['device:o:aa', { incident_id: 'i1', state: 'open' as const, version: 1 }]]));
    expect(mergeTransitions([closed!, forcedTransition(incident({}))])).toEqual([expect.objectContaining({ transition: 'resolved', openedToo: true, incident: resolved })]);
  });
});

describe('filters and words', () => {
  it('applies minimum severity, kinds, sites (id or name) and alarm types', () => {
    const t = transitionsOf([incident({})], new Map())[0]!;
    expect(wanted(destination({}), t)).toBe(true);
    expect(wanted(destination({ minSeverity: 'high' }), t)).toBe(false);
    expect(wanted(destination({ kinds: ['security'] }), t)).toBe(false);
    expect(wanted(destination({ sites: ['HQ'] }), t)).toBe(true);
    expect(wanted(destination({ sites: ['Branch'] }), t)).toBe(false);
    expect(wanted(destination({ alarmTypes: ['switch_down'] }), t)).toBe(false);
  });

  it('says durations the way people do, and caps a security incident\'s entities', () => {
    expect([duration(40_000), duration(12 * 60_000), duration(3 * 3_600_000 + 5 * 60_000), duration(50 * 3_600_000)]).toEqual(['40 s', '12 min', '3 h 5 min', '2 d 2 h']);
    const many = Array.from({ length: 14 }, (_, i) => `e${i}`);
    const t = transitionsOf([incident({ kind: 'security', key: 'security:o:s', title: 'Security alarms at HQ', entities: many })], new Map())[0]!;
    expect(line(t)).toMatch(/involving e0, e1, .*e9 and 4 more/);
  });

  it('cuts a long group at 20 lines and says how many more', () => {
    const group = transitionsOf(Array.from({ length: 25 }, (_, i) => incident({ incident_id: `i${i}`, key: `device:o:${i}` })), new Map());
    const [slack] = bodies('slack', group, { splunk: null, grafana: null }) as Array<{ text: string }>;
    expect(slack!.text.split('\n')[0]).toBe('25 incident changes at HQ: 25 opened, 0 resolved');
    expect(slack!.text).toMatch(/\nand 5 more$/);
  });
});
