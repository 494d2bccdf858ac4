import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Incident } from '../../src/domain/incident';
import type { MistEvent } from '../../src/domain/mist-event';
import { ManualClock } from '../helpers/clock';
import { eventIdsOf } from '../helpers/events';
import { FakeHec } from '../helpers/fake-hec';
import { FakeMistApi, OPENAPI_EXAMPLES } from '../helpers/fake-mist-api';
import { eventually, sampleJson } from '../helpers/fixtures';
import { capturingLogger, metricSum, metricValues, postWebhook, startPipeline } from '../helpers/pipeline';

/**
 * The Mist API companion (CONTRACT section 8) against a loopback Mist API with the OpenAPI's
 * shapes; time is a ManualClock, so "ten minutes down" is a clock move, not a wait.
 */
const SITE = '497f6eca-6276-5007-bfeb-53cbbbba6f19';
const T0 = Date.UTC(2026, 10, 1); // the ManualClock's start
type Json = Record<string, unknown>;

function api(): FakeMistApi {
  const fake = new FakeMistApi();
  fake.sites = [{ ...(OPENAPI_EXAMPLES.sites as Json[])[0], id: SITE, name: 'HQ', org_id: fake.orgId }];
  const base = (OPENAPI_EXAMPLES.inventory as Json[])[0]!;
  const stats = (OPENAPI_EXAMPLES.stats_devices as Json[])[0]!;
  const device = (mac: string, name: string, type: string, model: string): Json => ({ ...base, id: `00000000-0000-0000-0000-${mac}`, mac, name, type, model, site_id: SITE });
  fake.inventory = [device('5c5b35000001', 'AP-Lobby', 'ap', 'AP43'), device('5c5b35000002', 'AP-Quiet', 'ap', 'AP45'), device('5c5b35000003', 'SW-Core', 'switch', 'EX4100'), device('5c5b35000004', 'AP-Attic', 'ap', 'AP32')];
  fake.stats = fake.inventory.map((d) => ({ ...stats, mac: d.mac, name: d.name, model: d.model, type: d.type, site_id: SITE, org_id: fake.orgId, status: 'connected', last_seen: T0 / 1000, uptime: 86400 }));
  return fake;
}

async function start(fake: FakeMistApi, hec: FakeHec, clock: ManualClock, env: Record<string, string> = {}, logger?: ReturnType<typeof capturingLogger>['logger']) {
  return startPipeline(
    { MIST_API_TOKEN: fake.token, MIST_API_HOST: fake.url, SPLUNK_HEC_URL: hec.url, SPLUNK_HEC_TOKEN: hec.token, SPLUNK_HEC_LINGER_MS: '5', ...env },
    { clock, processMetrics: false, ...(logger ? { logger } : {}) },
  );
}
const events = (hec: FakeHec): MistEvent[] => hec.indexed.filter((e) => e.sourcetype !== 'juniper:mist:incident').map((e) => e.event as unknown as MistEvent);
const incidents = (hec: FakeHec): Incident[] => hec.indexed.filter((e) => e.sourcetype === 'juniper:mist:incident').map((e) => e.event as unknown as Incident);

describe('Mist API companion', () => {
  jest.setTimeout(30_000);
  let fake: FakeMistApi;
  let hec: FakeHec;
  beforeEach(async () => {
    fake = await api().start();
    hec = await new FakeHec().start();
  });
  afterEach(async () => {
    await fake.stop();
    await hec.stop();
  });

  it('names events from the inventory, gives every inventoried device a state, and lists it in /api/devices', async () => {
    const clock = new ManualClock();
    const pipeline = await start(fake, hec, clock);
    try {
      await pipeline.mistApi!.pass({ inventory: true });
      expect(pipeline.mistApi!.status()).toMatchObject({ ok: true, orgs: [fake.orgId] }); // discovered from /self
      const body = { topic: 'device-events', events: [{ mac: '5c5b35000001', device_type: 'ap', org_id: fake.orgId, site_id: SITE, type: 'AP_CONFIGURED', timestamp: T0 / 1000 }] };
      expect((await postWebhook(pipeline.url, JSON.stringify(body))).status).toBe(200);
      await eventually(() => events(hec).length === 1, 'the event at Splunk');
      expect(events(hec)[0]).toMatchObject({ device_name: 'AP-Lobby', site_name: 'HQ' });
      // A device no webhook ever named has a state and names.
      await eventually(async () => (await metricSum(pipeline, 'mistbridge_device_up', { device_mac: '5c5b35000002' })) === 1, 'device_up of AP-Quiet');
      expect((await metricValues(pipeline, 'mistbridge_device_info')).find((v) => v.labels.device_mac === '5c5b35000002')!.labels).toMatchObject({ device_name: 'AP-Quiet', model: 'AP45', site_name: 'HQ' });
      const devices = (await (await fetch(`${pipeline.adminUrl}/api/devices`)).json()) as Array<Json>;
      expect(devices.map((d) => d.device_mac).sort()).toEqual(['5c5b35000001', '5c5b35000002', '5c5b35000003', '5c5b35000004']);
      expect(devices.find((d) => d.device_mac === '5c5b35000003')).toMatchObject({ device_name: 'SW-Core', model: 'EX4100', up: true });
    } finally {
      await pipeline.stop();
    }
  });

  it("uses Mist's catalogues for types the built-in tables lack (an alarm's group and severity, a device event's words); the built-in tables win, and work with the API down", async () => {
    fake.alarmDefs = [
      { key: 'ap_radar_storm', display: 'Radar storm', group: 'infrastructure', severity: 'critical' },
      { key: 'device_down', display: 'Not the built-in words', group: 'marvis', severity: 'info' },
    ];
    fake.deviceEventDefs = [{ key: 'AP_QUANTUM_TUNNEL_UP', display: 'Quantum tunnel up', description: 'a type of a later Mist release' }];
    const clock = new ManualClock();
    const pipeline = await start(fake, hec, clock);
    try {
      // before the catalogues arrive: the built-in tables alone
      let n = 0;
      const alarm = (type: string): string => JSON.stringify({ topic: 'alarms', events: [{ type, aps: ['5c5b35000001'], org_id: fake.orgId, site_id: SITE, timestamp: T0 / 1000, id: `${type}-${n++}` }] });
      expect((await postWebhook(pipeline.url, alarm('ap_radar_storm'))).status).toBe(200);
      await eventually(() => events(hec).length === 1, 'the unknown alarm delivered without the catalogue');
      expect(events(hec)[0]).toMatchObject({ type: 'ap_radar_storm', message: expect.stringMatching(/^ap_radar_storm/) });

      await pipeline.mistApi!.pass({ inventory: true });
      expect(fake.requests.filter((r) => r.path.startsWith('/api/v1/const/')).map((r) => r.path)).toEqual(['/api/v1/const/alarm_defs', '/api/v1/const/device_events']);
      const device = JSON.stringify({ topic: 'device-events', events: [{ type: 'AP_QUANTUM_TUNNEL_UP', mac: '5c5b35000001', device_type: 'ap', org_id: fake.orgId, site_id: SITE, timestamp: T0 / 1000 + 1 }] });
      await eventually(async () => {
        await postWebhook(pipeline.url, alarm('ap_radar_storm'));
        return events(hec).some((e) => e.type === 'ap_radar_storm' && e.severity === 'critical');
      }, "the catalogue's severity applied once the normalizer read it");
      expect(events(hec).find((e) => e.severity === 'critical')).toMatchObject({ category: 'infrastructure', message: expect.stringMatching(/^Radar storm: 5c5b35000001 at /) });
      expect((await postWebhook(pipeline.url, device)).status).toBe(200);
      expect((await postWebhook(pipeline.url, alarm('device_down'))).status).toBe(200);
      await eventually(() => events(hec).some((e) => e.type === 'AP_QUANTUM_TUNNEL_UP') && events(hec).some((e) => e.type === 'device_down'), 'both delivered');
      expect(events(hec).find((e) => e.type === 'AP_QUANTUM_TUNNEL_UP')!.message).toBe(`Quantum tunnel up: 5c5b35000001 at ${SITE}`);
      // the built-in table wins over the catalogue for a type it knows
      expect(events(hec).find((e) => e.type === 'device_down')).toMatchObject({ category: 'infrastructure', message: expect.stringMatching(/^Device offline/) });
      expect(await metricSum(pipeline, 'mistbridge_catalogue_lookups_total', { source: 'api' })).toBeGreaterThanOrEqual(2);
      expect(await metricSum(pipeline, 'mistbridge_catalogue_lookups_total', { source: 'builtin' })).toBeGreaterThanOrEqual(1);
      expect(await metricSum(pipeline, 'mistbridge_catalogue_lookups_total', { source: 'none' })).toBeGreaterThanOrEqual(1);
      // at most every 6 h: a second inventory pass asks nothing more
      await pipeline.mistApi!.pass({ inventory: true });
      expect(fake.requests.filter((r) => r.path.startsWith('/api/v1/const/')).length).toBe(2);
    } finally {
      await pipeline.stop();
    }
  });

  it('reconciles with the API status at the time the API gives: resolves a missed reconnect, opens after two disconnected checks', async () => {
    const clock = new ManualClock();
    const pipeline = await start(fake, hec, clock);
    try {
      await pipeline.mistApi!.pass({ inventory: true });
      const down = sampleJson('alarms__device-down-alarmdef.json');
      const alarm = { ...down.events[0], org_id: fake.orgId, site_id: SITE, aps: ['5c5b35000001'], hostnames: ['AP-Lobby'], timestamp: T0 / 1000 - 600, last_seen: T0 / 1000 - 600 };
      await postWebhook(pipeline.url, JSON.stringify({ topic: 'alarms', events: [alarm] }));
      await eventually(() => incidents(hec).some((i) => i.state === 'open'), 'the incident opened');
      // The reconnect webhook never came; the API says it has been up for 5 minutes.
      fake.stats[0] = { ...fake.stats[0], last_seen: T0 / 1000 + 60, uptime: 360 };
      // AP-Attic is gone, with no webhook: one check is not enough, two are.
      fake.stats[3] = { ...fake.stats[3], status: 'disconnected', last_seen: T0 / 1000 - 120, uptime: 0 };
      clock.advance(60_000);
      await pipeline.mistApi!.pass();
      await eventually(() => incidents(hec).some((i) => i.key.endsWith('5c5b35000001') && i.state === 'resolved'), 'resolved by reconciliation');
      expect(incidents(hec).find((i) => i.key.endsWith('5c5b35000001') && i.state === 'resolved')).toMatchObject({ resolve_reason: 'reconciled', resolved_at: (T0 / 1000 - 300) * 1000 });
      expect(incidents(hec).some((i) => i.key.endsWith('5c5b35000004'))).toBe(false);
      clock.advance(300_000);
      await pipeline.mistApi!.pass();
      await eventually(() => incidents(hec).some((i) => i.key.endsWith('5c5b35000004')), 'opened after the second check');
      expect(incidents(hec).find((i) => i.key.endsWith('5c5b35000004'))).toMatchObject({ state: 'open', opened_at: T0 - 120_000, context: ['opened by reconciliation'], title: 'AP AP-Attic (5c5b35000004) offline at HQ' });
      await eventually(async () => (await metricSum(pipeline, 'mistbridge_device_up', { device_mac: '5c5b35000004' })) === 0, 'device_up 0');
    } finally {
      await pipeline.stop();
    }
  });

  it('after ten minutes down back-fills exactly the alarms, device events and audits of the gap, nothing twice, through 429s', async () => {
    const clock = new ManualClock();
    const dataDir = mkdtempSync(join(tmpdir(), 'mistbridge-backfill-'));
    const alarm = (id: string, atS: number): Json => ({ id, type: 'switch_down', group: 'infrastructure', severity: 'critical', count: 1, org_id: fake.orgId, site_id: SITE, switches: ['5c5b35000003'], hostnames: ['SW-Core'], timestamp: atS, last_seen: atS, status: 'open', acked: false, note: '' });
    let pipeline = await start(fake, hec, clock, { DATA_DIR: dataDir });
    try {
      await pipeline.mistApi!.pass({ inventory: true });
      // One alarm arrives by webhook before the outage (the API has it too).
      const delivered = alarm('a0000000-0000-0000-0000-000000000000', T0 / 1000 - 10);
      const { status: _status, acked: _acked, note: _note, ...webhookShape } = delivered;
      await postWebhook(pipeline.url, JSON.stringify({ topic: 'alarms', events: [webhookShape] }));
      await eventually(() => events(hec).length === 1, 'the delivered alarm at Splunk');
      await pipeline.stop();

      // Ten minutes down: what happened meanwhile is only in the API.
      clock.advance(600_000);
      const gap = (T0 + 300_000) / 1000;
      fake.alarms = [delivered, alarm('a0000000-0000-0000-0000-000000000001', gap), alarm('a0000000-0000-0000-0000-000000000002', gap + 1), alarm('a0000000-0000-0000-0000-000000000003', gap + 2)];
      fake.deviceEvents = [{ ...((OPENAPI_EXAMPLES.device_events_search as Json).results as Json[])[0], org_id: fake.orgId, site_id: SITE, ap: '5c5b35000002', type: 'AP_RESTARTED', timestamp: gap + 3 }];
      fake.audits = [{ ...((OPENAPI_EXAMPLES.logs as Json).results as Json[])[0], org_id: fake.orgId, site_id: SITE, timestamp: gap + 4 }];
      fake.throttle = 4; // a 429 storm on the way
      fake.retryAfterS = 0.2;
      pipeline = await start(fake, hec, clock, { DATA_DIR: dataDir });
      await pipeline.mistApi!.pass();
      await eventually(() => events(hec).length === 1 + 5, 'the gap at Splunk');
      const backfilled = events(hec).filter((e) => e.attributes.source === 'api');
      expect(backfilled.map((e) => `${e.topic} ${e.type}`).sort()).toEqual(['alarms switch_down', 'alarms switch_down', 'alarms switch_down', 'audits audits', 'device-events AP_RESTARTED']);
      expect(backfilled.find((e) => e.topic === 'device-events')).toMatchObject({ device_mac: '5c5b35000002', device_name: 'AP-Quiet', site_name: 'HQ' });
      expect(fake.requests.filter((r) => r.status === 429).length).toBe(4);
      expect(await metricSum(pipeline, 'mistbridge_backfill_events_total', { topic: 'alarms' })).toBe(3);

      // The next pass, and the one after a Marvis-like update under a known id: only the update.
      clock.advance(300_000);
      fake.alarms.push({ ...alarm('a0000000-0000-0000-0000-000000000001', gap), count: 2, last_seen: gap + 200 });
      await pipeline.mistApi!.pass();
      await eventually(() => events(hec).length === 7, 'the count update');
      clock.advance(300_000);
      await pipeline.mistApi!.pass();
      await new Promise((resolve) => setTimeout(resolve, 200));
      expect(events(hec).length).toBe(7);
      expect(new Set(events(hec).map((e) => e.event_id)).size).toBe(7);
    } finally {
      await pipeline.stop();
    }
  });

  it('re-injects the failed deliveries of Mist\'s log unchanged (their event ids are the webhook\'s)', async () => {
    const clock = new ManualClock();
    const pipeline = await start(fake, hec, clock, { MIST_ORG_ID: fake.orgId });
    try {
      await pipeline.mistApi!.pass({ inventory: true });
      const payload = JSON.stringify({ topic: 'alarms', events: [{ ...sampleJson('alarms__device-down-alarmdef.json').events[0], org_id: fake.orgId, site_id: SITE, timestamp: T0 / 1000 + 100 }] });
      fake.webhooks = [{ ...(OPENAPI_EXAMPLES.webhooks as Json[])[0], id: 'hook-1', type: 'http-post', enabled: true, url: 'https://mist-hooks.example.com/webhooks/mist', topics: ['alarms', 'audits'] }];
      fake.deliveries.set('hook-1', [{ ...((OPENAPI_EXAMPLES.webhook_deliveries as Json).results as Json[])[0], webhook_id: 'hook-1', status: 'failure', status_code: 502, req_payload: payload, timestamp: T0 / 1000 + 101 }]);
      // The same alarm in the search: the log covers alarms, so it is not used.
      fake.alarms = [{ ...JSON.parse(payload).events[0], status: 'open' }];
      const searchedBefore = fake.count(`/api/v1/orgs/${fake.orgId}/alarms/search`);
      clock.advance(300_000);
      await pipeline.mistApi!.pass();
      await eventually(() => events(hec).length === 1, 'the failed delivery at Splunk');
      expect(events(hec)[0]!.event_id).toBe(eventIdsOf([payload])[0]);
      expect(fake.count(`/api/v1/orgs/${fake.orgId}/alarms/search`)).toBe(searchedBefore);
      expect(fake.count('/api/v1/self')).toBe(0); // MIST_ORG_ID given
    } finally {
      await pipeline.stop();
    }
  });

  it('with a wrong token: a clear error in the logs and /readyz, and webhooks keep flowing', async () => {
    const clock = new ManualClock();
    const { logger, lines } = capturingLogger();
    const pipeline = await start(fake, hec, clock, { MIST_API_TOKEN: 'wrong' }, logger);
    try {
      await pipeline.mistApi!.pass();
      const ready = await fetch(`${pipeline.adminUrl}/readyz`);
      expect(ready.status).toBe(200);
      const body = (await ready.json()) as { checks: Record<string, { ok: boolean; reason: string }> };
      expect(body.checks.mist_api).toMatchObject({ ok: false, reason: expect.stringMatching(/HTTP 401.*MIST_API_TOKEN is not a valid token/) });
      expect(lines.some((l) => l.level === 'error' && String(l.reason).includes('MIST_API_HOST'))).toBe(true);
      expect(JSON.stringify(lines)).not.toContain(fake.token);
      expect((await postWebhook(pipeline.url, JSON.stringify(sampleJson('alarms__device-down-alarmdef.json')))).status).toBe(200);
      await eventually(() => events(hec).length === 1, 'the webhook at Splunk');
    } finally {
      await pipeline.stop();
    }
  });

  it('uses a request budget that grows with the org: one reconcile pass per page of devices plus the searches', async () => {
    const clock = new ManualClock();
    const pipeline = await start(fake, hec, clock, { MIST_ORG_ID: fake.orgId });
    try {
      await pipeline.mistApi!.pass({ inventory: true });
      const before = fake.requests.length;
      clock.advance(299_000); // not a whole period: the pass asked for is the only one
      await pipeline.mistApi!.pass();
      // 4 devices at 2 per page: 2 stats pages, 1 webhooks list, 3 searches.
      expect(fake.requests.length - before).toBe(2 + 1 + 3);
    } finally {
      await pipeline.stop();
    }
  });
});
