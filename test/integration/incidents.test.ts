import { ManualClock } from '../helpers/clock';
import { FakeHec } from '../helpers/fake-hec';
import { eventually, sampleJson } from '../helpers/fixtures';
import { capturingLogger, metricValues as gauge, postWebhook, startPipeline } from '../helpers/pipeline';

type Pipeline = Awaited<ReturnType<typeof startPipeline>>;
type ApiIncident = { incident_id: string; key: string; kind: string; state: string; entities: string[]; resolve_reason: string | null; resolved_at: number | null };

/** A sample body with its first event patched: the Mist guide's scenarios built from real payloads. */
function body(file: string, patch: Record<string, unknown> = {}): string {
  const sample = sampleJson(file);
  return JSON.stringify({ topic: sample.topic, events: [{ ...sample.events[0], ...patch }] });
}

const ORG = '09dac91f-6e73-4100-89f7-698e0fafbb1b';
const SITE = 'dcfb31a1-d615-4361-8c95-b9dde05aa704';

async function api(pipeline: Pipeline, path: string): Promise<{ status: number; body: unknown }> {
  const response = await fetch(`${pipeline.adminUrl}/api${path}`);
  return { status: response.status, body: await response.json() };
}

describe('incidents end to end: signed webhooks → API, Splunk and metrics agree, and survive a restart', () => {
  let hec: FakeHec;
  let pipeline: Pipeline | null = null;
  beforeEach(async () => {
    hec = await new FakeHec().start();
  });
  afterEach(async () => {
    await pipeline?.stop();
    pipeline = null;
    await hec.stop();
  });

  const env = (extra: Record<string, string> = {}) => ({
    SPLUNK_HEC_URL: hec.url,
    SPLUNK_HEC_TOKEN: hec.token,
    SPLUNK_HEC_LINGER_MS: '10',
    SECURITY_QUIET_WINDOW_S: '3600',
    ...extra,
  });

  it('an AP outage of two APs with one recovery, a Marvis action and a security alarm', async () => {
    pipeline = await startPipeline(env());
    const posts = [
      body('alarms__device-down-alarmdef.json', { aps: ['d420b02000fa', '5c5b355114cc'], hostnames: ['AP-1', 'AP-2'] }),
      body('alarms__device-reconnected-alarmdef.json', { timestamp: 1629754300 }),
      body('alarms__marvis-bad-cable-open-alarmdef.json'),
      body('alarms__security-rogue-ap-alarmdef.json', { timestamp: Math.floor(Date.now() / 1000) }),
    ];
    for (const post of posts) expect((await postWebhook(pipeline.url, post)).status).toBe(200);

    await eventually(async () => ((await api(pipeline!, '/incidents')).body as unknown[]).length === 4, 'four incidents');
    const all = (await api(pipeline, '/incidents')).body as ApiIncident[];
    const open = (await api(pipeline, '/incidents?state=open')).body as ApiIncident[];
    expect(open.map((i) => i.key).sort()).toEqual(
      [
        `device:${ORG}:d420b02000fa`,
        'marvis:9747a50a-23f8-4ca5-83c4-102e807874de:faf2de33-41cc-4f05-b52c-be2f1f0d1368',
        'security:b4e16c72-d50e-4c03-a952-a3217e231e2c:f688779c-e335-4f88-8d7c-9c5e9964528b',
      ].sort(),
    );
    const resolved = (await api(pipeline, `/incidents?state=resolved&site_id=${SITE}&kind=device`)).body as ApiIncident[];
    expect(resolved).toEqual([expect.objectContaining({ key: `device:${ORG}:5c5b355114cc`, resolve_reason: 'recovery_event' })]);
    expect(all.every((i) => !('applied_event_ids' in i))).toBe(true);
    const one = await api(pipeline, `/incidents/${resolved[0]!.incident_id}`);
    expect(one).toEqual({ status: 200, body: resolved[0] });
    expect((await api(pipeline, '/incidents/0000')).status).toBe(404);
    expect((await api(pipeline, '/incidents?state=closed')).status).toBe(400);

    // Splunk holds every incident write; its latest per key matches the API.
    await eventually(() => hec.incidents().length >= 5, 'incident writes at HEC');
    const latest = new Map(hec.incidents().map((e) => [e.event.key, e.event]));
    for (const incident of all) expect(latest.get(incident.key)).toEqual(incident);
    expect(hec.incidents()[0]).toMatchObject({ sourcetype: 'juniper:mist:incident', fields: { mb_kind: expect.any(String), mb_state: expect.any(String) } });

    // Metrics agree with the state.
    await eventually(async () => (await gauge(pipeline!, 'mistbridge_incidents_open')).reduce((s, v) => s + v.value, 0) === 3, 'open gauge');
    const devices = await gauge(pipeline, 'mistbridge_device_up');
    expect(devices).toEqual(
      expect.arrayContaining([
        { labels: { device_mac: 'd420b02000fa', device_type: 'ap', site_id: SITE }, value: 0 },
        { labels: { device_mac: '5c5b355114cc', device_type: 'ap', site_id: SITE }, value: 1 },
      ]),
    );
    const totals = await gauge(pipeline, 'mistbridge_incidents_total');
    expect(totals.find((v) => v.labels.kind === 'device' && v.labels.transition === 'opened')!.value).toBe(2);
    expect(totals.find((v) => v.labels.kind === 'device' && v.labels.transition === 'resolved')!.value).toBe(1);
  });

  it.each([['with'], ['without']])(
    'keeps open incidents across a restart, and resolves at start what went quiet while it was down (%s a Splunk sink)',
    async (splunk) => {
      // The clock is injected: the quiet window passes while the process is down without anyone waiting for it.
      const clock = new ManualClock();
      const settings = { SECURITY_QUIET_WINDOW_S: '3600', ...(splunk === 'with' ? {} : { SPLUNK_HEC_URL: '' }) };
      pipeline = await startPipeline(env(settings), { clock });
      const dataDir = pipeline.dataDir;
      const now = Math.floor(clock.now() / 1000);
      await postWebhook(pipeline.url, body('alarms__device-down-alarmdef.json'));
      await postWebhook(pipeline.url, body('alarms__security-rogue-ap-alarmdef.json', { timestamp: now }));
      await eventually(async () => ((await api(pipeline!, '/incidents?state=open')).body as unknown[]).length === 2, 'two open incidents');
      await pipeline.stop();
      pipeline = null;

      clock.advance(3600_000 + 1000);
      pipeline = await startPipeline(env({ ...settings, DATA_DIR: dataDir }), { clock });
      // The start-up sweep writes the security resolution: the API must still hold every incident.
      await eventually(async () => ((await api(pipeline!, '/incidents')).body as unknown[]).length === 2, 'both incidents in the API after the restart');
      const incidents = (await api(pipeline, '/incidents')).body as ApiIncident[];
      expect(incidents.find((i) => i.kind === 'device')).toMatchObject({ state: 'open' });
      expect(incidents.find((i) => i.kind === 'security')).toMatchObject({ state: 'resolved', resolve_reason: 'quiet_window', resolved_at: now * 1000 + 3600_000 });
      await eventually(async () => (await gauge(pipeline!, 'mistbridge_incidents_open')).reduce((s, v) => s + v.value, 0) === 1, 'open gauge after restart');
    },
  );

  it('answers 400 for a malformed incident id, without an error log', async () => {
    const { logger, lines } = capturingLogger();
    pipeline = await startPipeline(env(), { logger });
    const reply = await fetch(`${pipeline.adminUrl}/api/incidents/%ZZ`);
    expect(reply.status).toBe(400);
    expect(await reply.json()).toEqual({ error: expect.any(String) });
    expect(lines.filter((l) => l.level === 'error')).toEqual([]);
  });
});
