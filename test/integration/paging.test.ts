import { allPages, eventually, sampleJson } from '../helpers/fixtures';
import { postWebhook, startPipeline } from '../helpers/pipeline';

const down = sampleJson('alarms__device-down-alarmdef.json').events[0]!;
const up = sampleJson('alarms__device-reconnected-alarmdef.json').events[0]!;
const mac = (n: number): string => `5c5b35${String(n).padStart(6, '0')}`;

describe('paged incidents and devices (CONTRACT section 3)', () => {
  let pipeline: Awaited<ReturnType<typeof startPipeline>>;
  beforeAll(async () => {
    pipeline = await startPipeline({ MISTBRIDGE_ROLES: 'ingress,normalizer,correlator' });
    // 25 APs down, the first five back up: 25 device incidents.
    const downs = Array.from({ length: 25 }, (_, n) => ({ ...down, aps: [mac(n)], hostnames: [`AP-${n}`], timestamp: 1700000000 + n, id: `d${n}` }));
    expect((await postWebhook(pipeline.url, JSON.stringify({ topic: 'alarms', events: downs }))).status).toBe(200);
    const ups = Array.from({ length: 5 }, (_, n) => ({ ...up, aps: [mac(n)], timestamp: 1700001000 + n, id: `u${n}` }));
    expect((await postWebhook(pipeline.url, JSON.stringify({ topic: 'alarms', events: ups }))).status).toBe(200);
    await eventually(async () => (await allPages(`${pipeline.adminUrl}/api/incidents?state=resolved`)).records.length === 5, 'five resolved');
  });
  afterAll(() => pipeline.stop());

  it('pages incidents newest first with Link rel="next" until every one was listed once', async () => {
    const first = await fetch(`${pipeline.adminUrl}/api/incidents?kind=device&limit=10`);
    expect(first.headers.get('link')).toMatch(/^<\/api\/incidents\?kind=device&limit=10&cursor=[A-Za-z0-9_-]{12}\.10>; rel="next"$/);
    const { records, pages } = await allPages<{ key: string; updated_at: number }>(`${pipeline.adminUrl}/api/incidents?kind=device&limit=10`);
    expect(pages).toBe(3);
    expect(new Set(records.map((r) => r.key)).size).toBe(25);
    expect(records.map((r) => r.updated_at)).toEqual([...records.map((r) => r.updated_at)].sort((a, b) => b - a));
    const unpaged = await allPages(`${pipeline.adminUrl}/api/incidents`);
    expect(unpaged.pages).toBe(1);
  });

  it('keeps the first page\'s listing while incidents change, showing each as it is when its page is read', async () => {
    const first = await fetch(`${pipeline.adminUrl}/api/incidents?state=open&limit=5`);
    const seen = ((await first.json()) as Array<{ key: string }>).map((r) => r.key);
    // Meanwhile an AP that was listed as open on a later page recovers.
    expect((await postWebhook(pipeline.url, JSON.stringify({ topic: 'alarms', events: [{ ...up, aps: [mac(5)], timestamp: 1700002000, id: 'u-late' }] }))).status).toBe(200);
    await eventually(async () => (await allPages(`${pipeline.adminUrl}/api/incidents?state=resolved`)).records.length === 6, 'six resolved');
    const rest = await allPages<{ key: string; state: string }>(`${pipeline.adminUrl}${/<([^>]+)>/.exec(first.headers.get('link')!)![1]}`);
    expect(new Set([...seen, ...rest.records.map((r) => r.key)]).size).toBe(20);
    expect(rest.records.find((r) => r.key.endsWith(mac(5)))?.state).toBe('resolved');
  });

  it('lists devices down first, paged the same way, and refuses bad parameters with 400', async () => {
    const { records } = await allPages<{ device_mac: string; up: boolean; device_type: string; device_name: string | null; since: number }>(`${pipeline.adminUrl}/api/devices?limit=7`);
    expect(records).toHaveLength(25);
    const firstUp = records.findIndex((d) => d.up);
    expect(records.slice(firstUp).every((d) => d.up)).toBe(true);
    expect(records.slice(0, firstUp).every((d) => !d.up)).toBe(true);
    expect(records.find((d) => d.device_mac === mac(7))).toMatchObject({ device_type: 'ap', device_name: 'AP-7', up: false, since: 1700000007000 });
    expect((await allPages(`${pipeline.adminUrl}/api/devices?state=down`)).records).toHaveLength(19);
    for (const query of ['limit=0', 'limit=10001', 'limit=abc', 'cursor=nope', 'cursor=AAAAAAAAAAAA.5', 'state=sideways']) {
      expect({ query, status: (await fetch(`${pipeline.adminUrl}/api/devices?${query}`)).status }).toEqual({ query, status: 400 });
    }
  });
});
