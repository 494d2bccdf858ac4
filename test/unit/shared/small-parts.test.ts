import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import type { OutgoingMessage } from '../../../src/bus/bus';
import { topicNames } from '../../../src/bus/topics';
import { deadLetter } from '../../../src/dlq/dead-letter';
import { redrivePlan } from '../../../src/dlq/letters';
import { incidentCodec, type Incident } from '../../../src/domain/incident';
import { LabelLimiter } from '../../../src/shared/label-limiter';
import { SCHEMA_HEADER } from '../../../src/shared/avro';
import { createMetrics } from '../../../src/shared/metrics';
import { DeviceInfo } from '../../../src/sinks/metrics/device-info';
import { DeviceUp } from '../../../src/sinks/metrics/device-state';
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
    // The series that exist at 0 from start-up are left out: these tests follow what incidents change.
    (await family![name].get()).values.filter((v) => v.value !== 0 || name === 'deviceUp').map((v) => ({ ...v.labels, value: v.value }));

  it('counts transitions once, ignores versions it has seen, and removes a forgotten device', async () => {
    const family = createMetrics(['metrics'], undefined, { processMetrics: false }).events!;
    const gauges = new IncidentGauges(family, new DeviceUp(family.deviceUp));
    gauges.apply('device:o:aa', incident({}), true);
    gauges.apply('device:o:aa', incident({}), true); // redelivered
    expect(await values(family, 'incidentsOpen')).toEqual([{ kind: 'device', severity: 'medium', value: 1 }]);
    expect(await values(family, 'deviceUp')).toEqual([{ device_mac: 'aa', device_type: 'ap', site_id: 's', value: 0 }]);
    gauges.apply('device:o:aa', incident({ state: 'resolved', version: 2, resolved_at: 5 }), true);
    gauges.apply('device:o:aa', incident({ version: 1 }), true); // an older version, late
    expect(await values(family, 'incidentsOpen')).toEqual([]);
    expect(await values(family, 'deviceUp')).toEqual([{ device_mac: 'aa', device_type: 'ap', site_id: 's', value: 1 }]);
    expect(await values(family, 'incidentsTotal')).toEqual([
      { kind: 'device', transition: 'opened', value: 1 },
      { kind: 'device', transition: 'resolved', value: 1 },
    ]);
    gauges.apply('device:o:aa', null, true);
    expect(await values(family, 'deviceUp')).toEqual([]);
  });

  it("a device follows its key's latest incident, even one whose events are older than the last version (events out of order)", async () => {
    const family = createMetrics(['metrics'], undefined, { processMetrics: false }).events!;
    const gauges = new IncidentGauges(family, new DeviceUp(family.deviceUp));
    gauges.apply('device:o:aa', incident({ updated_at: 200 }), true);
    gauges.apply('device:o:aa', incident({ version: 2, state: 'resolved', resolved_at: 200, updated_at: 200 }), true);
    // The next incident on the key opened from a down event stamped before the last update of the one before.
    gauges.apply('device:o:aa', incident({ incident_id: 'i2', version: 3, updated_at: 150 }), true);
    expect(await values(family, 'deviceUp')).toEqual([{ device_mac: 'aa', device_type: 'ap', site_id: 's', value: 0 }]);
  });

  it('counts the next incident of a key whose tombstone it never read (its versions start again at 1)', async () => {
    const family = createMetrics(['metrics'], undefined, { processMetrics: false }).events!;
    const gauges = new IncidentGauges(family, new DeviceUp(family.deviceUp));
    gauges.apply('device:o:aa', incident({ version: 3, state: 'resolved', resolved_at: 5, updated_at: 5 }), false);
    gauges.apply('device:o:aa', incident({ incident_id: 'i2', version: 1, updated_at: 9 }), true);
    expect(await values(family, 'incidentsOpen')).toEqual([{ kind: 'device', severity: 'medium', value: 1 }]);
    expect(await values(family, 'deviceUp')).toEqual([{ device_mac: 'aa', device_type: 'ap', site_id: 's', value: 0 }]);
  });

  it('loads existing state without counting it as transitions', async () => {
    const family = createMetrics(['metrics'], undefined, { processMetrics: false }).events!;
    new IncidentGauges(family, new DeviceUp(family.deviceUp)).apply('device:o:aa', incident({}), false);
    expect(await values(family, 'incidentsTotal')).toEqual([]);
    expect(incidentCodec().decode(incidentCodec().encode(incident({})), undefined).key).toBe('device:o:aa');
  });
});

describe('series that exist from start-up (CONTRACT section 7)', () => {
  it('exports every known outcome, transition, kind x severity and stage x reason at 0 before anything happened', async () => {
    const text = await createMetrics(['ingress', 'normalizer', 'splunk', 'metrics', 'correlator'], undefined, { processMetrics: false }).registry.metrics();
    const zero = (series: string) => expect(text).toContain(`${series} 0\n`);
    for (const outcome of ['accepted', 'bad_signature', 'malformed', 'too_large', 'unsupported_media_type', 'unavailable']) zero(`mistbridge_webhooks_total{outcome="${outcome}"}`);
    for (const outcome of ['delivered', 'retried', 'rejected']) zero(`mistbridge_hec_events_total{outcome="${outcome}"}`);
    zero('mistbridge_incidents_total{kind="marvis",transition="opened"}');
    zero('mistbridge_incidents_open{kind="security",severity="critical"}');
    zero('mistbridge_dlq_total{stage="normalizer",reason="crash_loop"}');
    zero('mistbridge_dlq_total{stage="splunk",reason="proxy_error"}');
    zero('mistbridge_dlq_total{stage="correlator",reason="schema_mismatch"}');
    zero('mistbridge_dlq_redriven_total{stage="metrics"}');
    zero('mistbridge_hec_paused');
    zero('mistbridge_last_webhook_timestamp_seconds');
  });

  it('exports only the families of the roles a process runs', async () => {
    const text = await createMetrics(['ingress'], undefined, { processMetrics: false }).registry.metrics();
    expect(text).toContain('mistbridge_webhooks_total{outcome="accepted"} 0');
    expect(text).not.toContain('mistbridge_dlq_total');
    expect(text).not.toContain('mistbridge_hec_events_total');
  });
});

describe('DeviceInfo: one mistbridge_device_info series per device', () => {
  it('merges what events carry, replaces the series when a label changes, and ignores events without a device', async () => {
    const family = createMetrics(['metrics'], undefined, { processMetrics: false }).events!;
    const info = new DeviceInfo(family.deviceInfo);
    const event = { device_mac: 'aa', device_type: 'ap', device_name: 'AP-1', site_id: 's', site_name: null, attributes: { model: 'AP45' } };
    info.observe(event);
    info.observe({ ...event, device_name: null, site_name: 'HQ', attributes: {} }); // leaves the name and model as known
    info.observe({ ...event, device_mac: null });
    const series = (await family.deviceInfo.get()).values.map((v) => ({ ...v.labels, value: v.value }));
    expect(series).toEqual([{ device_mac: 'aa', device_type: 'ap', device_name: 'AP-1', model: 'AP45', site_id: 's', site_name: 'HQ', value: 1 }]);
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

  it('keeps the writer schema of an Avro message, and a redrive puts it back (another version wrote it)', () => {
    const avro = { ...source, topic: 'mist.incidents', headers: { [SCHEMA_HEADER]: 'f'.repeat(64) } };
    const letter = JSON.parse(deadLetter('splunk', 'hec_rejected', 'HEC code 6', avro, { now: 1, maxValueBytes: 1000 }).value!.toString());
    expect(letter.schema).toBe('f'.repeat(64));
    const [planned] = redrivePlan({ ...letter, redriven_at: null }, topicNames('mist.')) as Array<{ topic: string; message: OutgoingMessage }>;
    expect(planned).toMatchObject({ topic: 'mist.redrive', message: { headers: { [SCHEMA_HEADER]: 'f'.repeat(64), 'mistbridge-redrive': 'splunk' } } });
    expect(JSON.parse(deadLetter('splunk', 'hec_rejected', 'x', source, { now: 1, maxValueBytes: 1000 }).value!.toString())).not.toHaveProperty('schema');
  });

  it('cuts a value that would not fit the DLQ, and says so', () => {
    const letter = JSON.parse(deadLetter('splunk', 'hec_rejected', 'x', source, { now: 1, maxValueBytes: 10 }).value!.toString());
    expect(letter.truncated).toBe(true);
    expect(Buffer.from(letter.value_base64, 'base64')).toHaveLength(10);
  });
});

describe('warnings (src/shared/warnings.ts)', () => {
  const script = `require(${JSON.stringify(join(__dirname, '..', '..', '..', 'dist', 'shared', 'warnings.js'))}).quietKafkajsTimerWarning(); setTimeout(() => undefined, -1 - Date.now()); process.emitWarning('kept', 'OtherWarning');`;
  it("drops kafkajs' negative timer warning, prints every other, and prints none with --no-warnings", () => {
    const run = (flags: string[]) => spawnSync(process.execPath, [...flags, '-e', script], { encoding: 'utf8' }).stderr;
    expect(run([])).toMatch(/^\(node:\d+\) OtherWarning: kept\n$/);
    expect(run(['--no-warnings'])).toBe('');
  });
});
