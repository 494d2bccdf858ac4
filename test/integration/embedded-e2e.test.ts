import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { EmbeddedBus } from '../../src/bus/embedded/embedded-bus';
import { eventIdsOf } from '../helpers/events';
import { eventually, sample, sampleFiles, sampleJson } from '../helpers/fixtures';
import { FakeHec, HEC_REPLIES } from '../helpers/fake-hec';
import { metricSum as counter, postWebhook, startPipeline } from '../helpers/pipeline';

type Pipeline = Awaited<ReturnType<typeof startPipeline>>;
type ReadyBody = { ready: boolean; checks: Record<string, { ok: boolean; paused?: boolean; reason?: string }> };

/** The event_ids a correct pipeline must deliver for these sample files. */
const expectedIds = (files: string[]): Set<string> => new Set(eventIdsOf(files.map(sample)));

function hecEnv(hec: FakeHec, extra: Record<string, string> = {}): Record<string, string> {
  return {
    SPLUNK_HEC_URL: hec.url,
    SPLUNK_HEC_TOKEN: hec.token,
    SPLUNK_HEC_LINGER_MS: '20',
    SPLUNK_HEC_RETRY_MAX_MS: '200',
    ...extra,
  };
}

describe('embedded pipeline end to end: signed webhooks → fake HEC', () => {
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

  it('delivers every sample event exactly as the contract envelope', async () => {
    pipeline = await startPipeline(hecEnv(hec, { SPLUNK_HEC_INDEX: 'mist' }));
    const files = sampleFiles();
    for (const file of files) expect((await postWebhook(pipeline.url, sample(file))).status).toBe(200);
    const expected = expectedIds(files);
    await eventually(() => hec.events().length >= expected.size, `${expected.size} events at HEC`);
    expect(new Set(hec.eventIds())).toEqual(expected);
    expect(hec.events()).toHaveLength(expected.size);
    expect(hec.requests.every((r) => r.gzip)).toBe(true);

    const down = hec.events().find((e) => e.event.type === 'device_down')!;
    expect(down).toMatchObject({
      time: 1629753888,
      host: 'Vendor_AP2',
      source: 'mistbridge',
      sourcetype: 'juniper:mist:alarms',
      index: 'mist',
      fields: { mb_topic: 'alarms', mb_severity: 'medium', mb_org_id: '09dac91f-6e73-4100-89f7-698e0fafbb1b' },
    });
    expect(down.event).toMatchObject({ device_mac: 'd420b02000fa', mist_severity: 'warn', state: null, timestamp: 1629753888000 });
    await eventually(() => hec.incidents().length > 0, 'incident writes at HEC');
    // HEC indexes before the sink reads its answer and counts: wait for the two to meet.
    await eventually(async () => (await counter(pipeline!, 'mistbridge_hec_events_total', { outcome: 'delivered' })) === hec.indexed.length, 'delivered counter');
    expect(await counter(pipeline, 'mistbridge_events_total', {})).toBe(expected.size);
  });

  it('drops duplicate deliveries (org and site webhooks) and counts them', async () => {
    pipeline = await startPipeline(hecEnv(hec));
    const body = sample('alarms__device-down-alarmdef.json');
    await postWebhook(pipeline.url, body);
    await postWebhook(pipeline.url, body);
    await eventually(async () => (await counter(pipeline!, 'mistbridge_events_duplicate_total', { topic: 'alarms' })) === 1, 'duplicate counted');
    await eventually(() => hec.events().length === 1, 'one event at HEC');
    await new Promise((r) => setTimeout(r, 200));
    expect(hec.events()).toHaveLength(1);
  });

  it('loses nothing through a HEC outage and counts the retries', async () => {
    hec.down = HEC_REPLIES.busy;
    pipeline = await startPipeline(hecEnv(hec));
    const files = sampleFiles().slice(0, 20);
    for (const file of files) expect((await postWebhook(pipeline.url, sample(file))).status).toBe(200);
    await eventually(() => hec.requests.filter((r) => r.status === 503).length >= 3, 'three refused requests');
    expect(hec.indexed).toHaveLength(0);
    hec.down = null;
    const expected = expectedIds(files);
    await eventually(() => new Set(hec.eventIds()).size === expected.size, 'every event after the outage');
    expect(new Set(hec.eventIds())).toEqual(expected);
    expect(await counter(pipeline, 'mistbridge_hec_events_total', { outcome: 'retried' })).toBeGreaterThan(0);
  });

  it('rides out a slow HEC (timeouts) and a throttling one (429 + Retry-After) without losing anything', async () => {
    hec.delayMs = 1500;
    pipeline = await startPipeline(hecEnv(hec, { SPLUNK_HEC_TIMEOUT_MS: '300' }));
    const files = sampleFiles().slice(30, 40);
    for (const file of files) expect((await postWebhook(pipeline.url, sample(file))).status).toBe(200);
    await eventually(async () => (await counter(pipeline!, 'mistbridge_hec_request_duration_seconds', { status: 'error' })) > 0, 'timed-out requests');
    hec.delayMs = 0;
    hec.script.push(HEC_REPLIES.throttled, HEC_REPLIES.throttled);
    const expected = expectedIds(files);
    await eventually(() => hec.requests.filter((r) => r.status === 429).length === 2, 'both throttled answers used');
    // A timed-out request may still have been indexed (as with Splunk): duplicates, never a loss.
    // (The delivered counter also counts incident writes, so it cannot say when the events are in.)
    await eventually(() => hec.hasAll([...expected]), 'every event after the timeouts and throttling');
    expect(new Set(hec.eventIds())).toEqual(expected);
  });

  it('splits at invalid-event-number: the bad event goes to the DLQ with the HEC code, the rest is delivered', async () => {
    pipeline = await startPipeline(hecEnv(hec, { SPLUNK_HEC_LINGER_MS: '300', MISTBRIDGE_ROLES: 'ingress,normalizer,splunk' }));
    hec.script.push(HEC_REPLIES.invalidFormat(1));
    await postWebhook(pipeline.url, sample('device-events__ap-restart-sequence-real.json'));
    await eventually(() => hec.indexed.length === 2, 'two events indexed');
    const dlq = await readDlq(pipeline.dataDir, 1);
    expect(dlq[0]).toMatchObject({ stage: 'splunk', reason: 'hec_rejected', topic: 'mist.events', partition: 0 });
    expect(dlq[0]!.error).toMatch(/HEC code 6: Invalid data format/);
    expect(hec.indexed.map((e) => e.event.type)).toEqual(['AP_RECONFIGURED', 'AP_CONNECTED']);
    // counted once the dead letter is durable, a moment after the file shows it
    await eventually(async () => (await counter(pipeline!, 'mistbridge_dlq_total', { stage: 'splunk', reason: 'hec_rejected' })) === 1, 'dead letter counted');
  });

  it('pauses without dropping while the token is refused, says so in /readyz and metrics, resumes when fixed', async () => {
    hec.down = HEC_REPLIES.invalidToken;
    pipeline = await startPipeline(hecEnv(hec));
    await postWebhook(pipeline.url, sample('alarms__switch-down-alarmdef.json'));
    const readyz = async (): Promise<{ status: number; body: ReadyBody }> => {
      const response = await fetch(`${pipeline!.adminUrl}/readyz`);
      return { status: response.status, body: (await response.json()) as ReadyBody };
    };
    await eventually(async () => (await readyz()).body.checks.splunk_sink?.paused === true, 'paused sink');
    const ready = await readyz();
    expect(ready.status).toBe(200); // a paused sink never makes the ingress unready
    expect(ready.body.checks.splunk_sink!.reason).toMatch(/Invalid token/);
    expect(await counter(pipeline, 'mistbridge_hec_paused', {})).toBe(1);
    expect(await counter(pipeline, 'mistbridge_dlq_total', {})).toBe(0);
    hec.down = null;
    await eventually(() => hec.events().length === 1, 'event delivered after the token was fixed');
    // the sink unpauses when the answer reaches it, a moment after the fake HEC recorded the event
    await eventually(async () => (await counter(pipeline!, 'mistbridge_hec_paused', {})) === 0, 'sink unpaused');
  });

  it('with indexer acknowledgement, commits only what Splunk confirmed', async () => {
    hec.holdAcks = true;
    pipeline = await startPipeline(hecEnv(hec, { SPLUNK_HEC_ACK: 'true', SPLUNK_HEC_ACK_POLL_MS: '50', MISTBRIDGE_ROLES: 'ingress,normalizer,splunk' }));
    await postWebhook(pipeline.url, sample('alarms__device-down-alarmdef.json'));
    await eventually(() => hec.requests.length === 1, 'event sent');
    expect(hec.requests[0]!.channel).toMatch(/^[0-9a-f-]{36}$/);
    await new Promise((r) => setTimeout(r, 300));
    expect(await counter(pipeline, 'mistbridge_hec_events_total', { outcome: 'delivered' })).toBe(0);
    const splunkLag = async (): Promise<number> => (await pipeline!.bus.lag()).find((l) => l.group === 'mistbridge-splunk' && l.topic === 'mist.events')!.lag;
    expect(await splunkLag()).toBe(1);
    hec.releaseAcks();
    await eventually(async () => (await counter(pipeline!, 'mistbridge_hec_events_total', { outcome: 'delivered' })) === 1, 'ack confirmed');
    await eventually(async () => (await splunkLag()) === 0, 'offset committed');
  });

  it('replays webhooks accepted before a graceful stop that HEC had not taken', async () => {
    hec.down = HEC_REPLIES.busy;
    pipeline = await startPipeline(hecEnv(hec));
    const dataDir = pipeline.dataDir;
    const files = sampleFiles().slice(20, 30);
    for (const file of files) expect((await postWebhook(pipeline.url, sample(file))).status).toBe(200);
    await pipeline.stop();
    pipeline = null;
    hec.down = null;
    pipeline = await startPipeline(hecEnv(hec, { DATA_DIR: dataDir }));
    const expected = expectedIds(files);
    await eventually(() => new Set(hec.eventIds()).size === expected.size, 'every event after the restart');
    expect(new Set(hec.eventIds())).toEqual(expected);
  });
});

async function readDlq(dataDir: string, count: number): Promise<Array<Record<string, unknown> & { error: string }>> {
  const path = join(dataDir, 'dlq.ndjson');
  await eventually(() => {
    try {
      return readFileSync(path, 'utf8').trim().split('\n').length >= count;
    } catch {
      return false;
    }
  }, 'dead letters');
  return readFileSync(path, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Record<string, unknown> & { error: string });
}

describe('a flood far above capacity', () => {
  it('sheds with 503 + Retry-After once the backlog bound is reached, stays healthy, and loses nothing it accepted', async () => {
    const hec = await new FakeHec().start();
    hec.down = HEC_REPLIES.busy; // nothing drains: the backlog can only grow
    // Every connection comes from one address here: the per-source cap is not what this test is about.
    const pipeline = await startPipeline({ ...hecEnv(hec), INGRESS_MAX_BACKLOG_BYTES: '200000', HTTP_MAX_CONNECTIONS_PER_SOURCE: '10000' });
    try {
      const bodies = Array.from({ length: 400 }, (_, n) => {
        const alarm = JSON.parse(sample('alarms__device-down-alarmdef.json').toString()) as { events: Array<Record<string, unknown>> };
        alarm.events[0] = { ...alarm.events[0], id: `flood-${n}`, pad: 'x'.repeat(2000) };
        return JSON.stringify(alarm);
      });
      const health: number[] = [];
      const results = await Promise.all(
        bodies.map(async (body, n) => {
          if (n % 50 === 0) health.push((await fetch(`${pipeline.url}/healthz`)).status);
          return { body, reply: await postWebhook(pipeline.url, body) };
        }),
      );
      const accepted = results.filter((r) => r.reply.status === 200);
      const shed = results.filter((r) => r.reply.status === 503);
      expect(shed.length).toBeGreaterThan(0);
      expect(accepted.length + shed.length).toBe(bodies.length);
      expect(shed.every((r) => Number(r.reply.headers.get('retry-after')) > 0)).toBe(true);
      expect(health.every((s) => s === 200)).toBe(true);
      hec.down = null;
      const ids = eventIdsOf(accepted.map((r) => r.body));
      await eventually(() => hec.hasAll(ids), 'every accepted event');
    } finally {
      await pipeline.stop();
      await hec.stop();
    }
  });
});


describe('org- and site-level webhooks for one topic (the Mist guide\'s first warning)', () => {
  it('deliver one event: the pair collapses by event_id, whatever the spelling of the topic', async () => {
    const hec = await new FakeHec().start();
    const pipeline = await startPipeline(hecEnv(hec));
    try {
      const alarm = sampleJson('alarms__device-down-alarmdef.json').events[0]!;
      const org = JSON.stringify({ topic: 'alarms', events: [{ ...alarm, for_site: false }] });
      const site = JSON.stringify({ topic: 'alarms', events: [{ ...alarm, for_site: true }] });
      expect((await postWebhook(pipeline.url, org)).status).toBe(200);
      expect((await postWebhook(pipeline.url, site)).status).toBe(200);
      const location = sampleJson('location_asset__ble-asset.json').events[0]!;
      expect((await postWebhook(pipeline.url, JSON.stringify({ topic: 'location_asset', events: [location] }))).status).toBe(200);
      expect((await postWebhook(pipeline.url, JSON.stringify({ topic: 'location-asset', events: [location] }))).status).toBe(200);
      await eventually(async () => (await counter(pipeline, 'mistbridge_events_duplicate_total', {})) === 2, 'two duplicates dropped');
      await eventually(() => hec.events().length === 2, 'two events delivered');
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(hec.events().map((e) => e.sourcetype).sort()).toEqual(['juniper:mist:alarms', 'juniper:mist:location-asset']);
      expect(await counter(pipeline, 'mistbridge_events_duplicate_total', { topic: 'location-asset' })).toBe(1);
    } finally {
      await pipeline.stop();
      await hec.stop();
    }
  });
});

describe('schema fingerprints', () => {
  it('a message written with another schema goes to the DLQ of every reader, and the stream moves on', async () => {
    const hec = await new FakeHec().start();
    const pipeline = await startPipeline(hecEnv(hec));
    try {
      // As if a newer writer had produced it (a batch's context: the only way derived messages enter the embedded bus).
      const context = (pipeline.bus as EmbeddedBus).contextFor(0, new AbortController().signal, 1);
      await context.produce('mist.events', [{ key: 'site', value: Buffer.from('not avro'), headers: { 'mistbridge-schema': 'f'.repeat(64) } }]);
      const dlq = await readDlq(pipeline.dataDir, 3);
      expect(dlq.map((d) => d.stage).sort()).toEqual(['correlator', 'metrics', 'splunk']);
      expect(dlq.every((d) => d.reason === 'schema_mismatch' && /written with schema f{64}/.test(d.error))).toBe(true);
      expect(Buffer.from(dlq[0]!.value_base64 as string, 'base64').toString()).toBe('not avro');
      await postWebhook(pipeline.url, sample('alarms__switch-down-alarmdef.json'));
      await eventually(() => hec.events().length === 1, 'the next event delivered');
    } finally {
      await pipeline.stop();
      await hec.stop();
    }
  });
});
