import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2020 from 'ajv/dist/2020';
import type { MistEvent } from '../../../src/domain/mist-event';
import { OCSF_VERSION, ocsfClassOf, toOcsf } from '../../../src/domain/ocsf';
import { normalizeWebhook } from '../../../src/normalizer/normalize';
import { eventEnvelopes } from '../../../src/sinks/splunk-hec/encoder';

/**
 * OCSF output (CONTRACT section 10) checked against the official class schemas: per-class JSON
 * Schemas built from github.com/ocsf/ocsf-schema (test/fixtures/ocsf, the commit in each file's
 * $comment; test/tools/ocsf-class-schemas.mjs builds them), validated with ajv.
 */
const FIXTURES = join(__dirname, '..', '..', 'fixtures');
const ajv = new Ajv2020({ allErrors: true, strict: false });
const validators = new Map([6003, 2004, 3002].map((uid) => [uid, ajv.compile(JSON.parse(readFileSync(join(FIXTURES, 'ocsf', `${uid}.schema.json`), 'utf8')) as object)]));

function eventsOf(dir: string, file: string): MistEvent[] {
  const result = normalizeWebhook(readFileSync(join(FIXTURES, dir, file), 'utf8'), 1795000000000, { map: {}, overrides: {} });
  if ('error' in result) return [];
  return result.results.flatMap((r) => (r.ok ? [r.event] : []));
}

const samples = [
  ...readdirSync(join(FIXTURES, 'samples')).map((file) => ['samples', file] as const),
  ...readdirSync(join(FIXTURES, 'samples-openapi')).map((file) => ['samples-openapi', file] as const),
];
const mapped = samples.flatMap(([dir, file]) => eventsOf(dir, file).map((event, i) => [`${dir}/${file}#${i}`, event] as const)).filter(([, event]) => ocsfClassOf(event.topic) !== null);

describe('OCSF events validate against their class', () => {
  it('maps real samples of every mapped topic', () => {
    const topics = new Set(mapped.map(([, e]) => e.topic.replace('_', '-')));
    expect([...topics].sort()).toEqual(['alarms', 'audits', 'nac-events']);
  });

  it.each(mapped)('%s', (_name, event) => {
    const ocsf = toOcsf(event, '0.3.0')!;
    const validate = validators.get(ocsf.class_uid)!;
    const valid = validate(ocsf);
    expect({ valid, errors: validate.errors?.slice(0, 5) ?? null }).toEqual({ valid: true, errors: null });
    expect(ocsf.metadata).toMatchObject({ uid: event.event_id, version: OCSF_VERSION, product: { name: 'mistbridge', version: '0.3.0' } });
    expect(ocsf.time).toBe(event.timestamp);
    expect(ocsf.type_uid).toBe(ocsf.class_uid * 100 + ocsf.activity_id);
  });

  it('the schemas can fail: a finding without finding_info, an audit without api, a wrong class are refused', () => {
    const alarm = mapped.find(([, e]) => e.topic === 'alarms')![1];
    const { finding_info: _info, ...noFinding } = toOcsf(alarm, '0.3.0')!;
    expect(validators.get(2004)!(noFinding)).toBe(false);
    const audit = mapped.find(([, e]) => e.topic === 'audits')![1];
    const { api: _api, ...noApi } = toOcsf(audit, '0.3.0')!;
    expect(validators.get(6003)!(noApi)).toBe(false);
    expect(validators.get(3002)!(toOcsf(audit, '0.3.0'))).toBe(false);
  });
});

describe('OCSF mapping', () => {
  it('gives other topics no OCSF event (never a forced class)', () => {
    for (const file of ['device-events__ap-restart-sequence-real.json', 'zone__asset-enter-schema.json', 'ping__delivery-test.json']) {
      for (const event of eventsOf('samples', file)) expect(toOcsf(event, '0.3.0')).toBeNull();
    }
  });

  it('an alarm is a Detection Finding with its devices as resources; Mist fields without an attribute go under unmapped', () => {
    const [event] = eventsOf('samples', 'alarms__device-down-alarmdef.json');
    expect(toOcsf(event!, '0.3.0')).toMatchObject({
      class_uid: 2004,
      category_uid: 2,
      activity_id: 1,
      severity_id: 3,
      finding_info: { title: event!.message, types: ['device_down'] },
      resources: [{ uid: 'd420b02000fa', type: 'ap' }],
      unmapped: { topic: 'alarms', site_id: event!.site_id },
    });
  });

  it('a NAC permit is a successful Authentication; an audit an API Activity with its admin', () => {
    const [nac] = eventsOf('samples-openapi', 'nac-events.json');
    expect(toOcsf(nac!, '0.3.0')).toMatchObject({ class_uid: 3002, activity_id: 1, src_endpoint: { mac: nac!.client_mac } });
    const [audit] = eventsOf('samples', 'audits__update-site-settings-before-after.json');
    expect(toOcsf(audit!, '0.3.0')).toMatchObject({ class_uid: 6003, activity_id: 3, api: { operation: expect.stringMatching(/^Update Site Settings/) }, actor: { user: { name: expect.stringMatching(/^John Doe/) } } });
  });

  it('SPLUNK_HEC_FORMAT: cim, ocsf or both envelopes; OCSF as juniper:mist:ocsf with mb_class_uid indexed', () => {
    const [alarm] = eventsOf('samples', 'alarms__device-down-alarmdef.json');
    const [device] = eventsOf('samples', 'device-events__ap-restart-sequence-real.json');
    const settings = { defaultIndex: 'mist', routes: {}, version: '0.3.0' };
    const sourcetypes = (event: MistEvent, format: 'cim' | 'ocsf' | 'both') => eventEnvelopes(event, { ...settings, format }).map((e) => JSON.parse(e) as { sourcetype: string; fields: Record<string, string> });
    expect(sourcetypes(alarm!, 'cim').map((e) => e.sourcetype)).toEqual(['juniper:mist:alarms']);
    expect(sourcetypes(alarm!, 'both').map((e) => e.sourcetype)).toEqual(['juniper:mist:alarms', 'juniper:mist:ocsf']);
    expect(sourcetypes(alarm!, 'ocsf')).toMatchObject([{ sourcetype: 'juniper:mist:ocsf', fields: { mb_class_uid: '2004' } }]);
    expect(sourcetypes(device!, 'ocsf')).toEqual([]); // no class: nothing in OCSF
  });
});
