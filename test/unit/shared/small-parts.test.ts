import { deadLetter } from '../../../src/dlq/dead-letter';
import { incidentCodec, type Incident } from '../../../src/domain/incident';
import { LabelLimiter } from '../../../src/shared/label-limiter';
import { createMetrics } from '../../../src/shared/metrics';
import { IncidentGauges } from '../../../src/sinks/metrics/incident-gauges';

describe('LabelLimiter: bounded label values', () => {
  it('passes the catalogue always, unknown values until the limit, then reports other', () => {
    const limiter = new LabelLimiter(new Set(['alarms']), 2);
    expect(['x', 'y', 'alarms', 'z', 'x', '__proto__'].map((v) => limiter.value(v))).toEqual(['x', 'y', 'alarms', 'other', 'x', 'other']);
  });
});

describe('IncidentGauges: incident and device gauges from the incident stream', () => {
  const incident = (patch: Partial<Incident>): Incident => ({
    incident_id: 'i1',
    key: 'device:o:aa',
    kind: 'device',
    state: 'open',
    severity: 'medium',
    severity_id: 3,
    title: 't',
    org_id: 'o',
    site_id: 's',
    site_name: null,
    entities: ['aa'],
    opened_at: 1,
    updated_at: 1,
    resolved_at: null,
    resolve_reason: null,
    event_count: 1,
    last_event_id: 'e',
    last_event_type: 'device_down',
    context: [],
    version: 1,
    device_type: 'ap',
    applied_event_ids: [],
    ...patch,
  });
  const values = async (family: ReturnType<typeof createMetrics>['events'], name: 'incidentsOpen' | 'incidentsTotal' | 'deviceUp') =>
    (await family![name].get()).values.map((v) => ({ ...v.labels, value: v.value }));

  it('counts transitions once, ignores versions it has seen, and removes a forgotten device', async () => {
    const family = createMetrics(['metrics'], undefined, { processMetrics: false }).events!;
    const gauges = new IncidentGauges(family);
    gauges.apply('device:o:aa', incident({}), true);
    gauges.apply('device:o:aa', incident({}), true); // redelivered
    expect(await values(family, 'incidentsOpen')).toEqual([{ kind: 'device', severity: 'medium', value: 1 }]);
    expect(await values(family, 'deviceUp')).toEqual([{ device_mac: 'aa', device_type: 'ap', site_id: 's', value: 0 }]);
    gauges.apply('device:o:aa', incident({ state: 'resolved', version: 2, resolved_at: 5 }), true);
    gauges.apply('device:o:aa', incident({ version: 1 }), true); // an older version, late
    expect(await values(family, 'incidentsOpen')).toEqual([{ kind: 'device', severity: 'medium', value: 0 }]);
    expect(await values(family, 'deviceUp')).toEqual([{ device_mac: 'aa', device_type: 'ap', site_id: 's', value: 1 }]);
    expect(await values(family, 'incidentsTotal')).toEqual([
      { kind: 'device', transition: 'opened', value: 1 },
      { kind: 'device', transition: 'resolved', value: 1 },
    ]);
    gauges.apply('device:o:aa', null, true);
    expect(await values(family, 'deviceUp')).toEqual([]);
  });

  it('loads existing state without counting it as transitions', async () => {
    const family = createMetrics(['metrics'], undefined, { processMetrics: false }).events!;
    new IncidentGauges(family).apply('device:o:aa', incident({}), false);
    expect(await values(family, 'incidentsTotal')).toEqual([]);
    expect(incidentCodec().decode(incidentCodec().encode(incident({})), undefined).key).toBe('device:o:aa');
  });
});

describe('dead letters (CONTRACT section 4)', () => {
  const source = { topic: 'mist.events', partition: 2, offset: '7', key: 'site', value: Buffer.alloc(100, 1), headers: {} };

  it('carries an id over its record and when it was dead-lettered', () => {
    const letter = JSON.parse(deadLetter('splunk', 'hec_rejected', 'HEC code 7', source, { now: 1234, maxValueBytes: 1000 }).value!.toString());
    expect(letter).toMatchObject({ dead_lettered_at: 1234, stage: 'splunk', reason: 'hec_rejected', topic: 'mist.events', partition: 2, offset: '7' });
    expect(letter.id).toMatch(/^[0-9a-f]{16}$/);
    expect(letter).not.toHaveProperty('truncated');
    const again = JSON.parse(deadLetter('splunk', 'hec_rejected', 'HEC code 7', source, { now: 1235, maxValueBytes: 1000 }).value!.toString());
    expect(again.id).not.toBe(letter.id);
  });

  it('cuts a value that would not fit the DLQ, and says so', () => {
    const letter = JSON.parse(deadLetter('splunk', 'hec_rejected', 'x', source, { now: 1, maxValueBytes: 10 }).value!.toString());
    expect(letter.truncated).toBe(true);
    expect(Buffer.from(letter.value_base64, 'base64')).toHaveLength(10);
  });
});
