import { execFile } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { KafkaBus } from '../../src/bus/kafka/kafka-bus';
import { topicNames } from '../../src/bus/topics';
import { silentLogger } from '../../src/shared/logger';
import { SCHEMA_HEADER } from '../../src/shared/avro';
import { deviceKey, encodeInventory } from '../../src/domain/inventory';
import { nextIncidentSchema, sampleIncident } from '../helpers/schemas';
import { FakeChat } from '../helpers/fake-chat';
import { FakeHec, HEC_REPLIES } from '../helpers/fake-hec';
import { eventually, sampleJson } from '../helpers/fixtures';
import { KafkaBroker, TEST_TOPICS, kafkaBrokerAvailability } from '../helpers/kafka-broker';
import { capturingLogger, metricSum, postWebhook, startPipeline } from '../helpers/pipeline';
import { CLI } from '../helpers/process';

/**
 * State on Kafka across faults as long as real ones: the consumer session is 6 s, outages last
 * 9 s or more. Every role runs in one process on a fresh test broker per test (the roles' own
 * processes are the process model's business; eviction and grouping are per consumer either way).
 */
jest.setTimeout(120_000);
const unavailable = kafkaBrokerAvailability();
if (unavailable) console.warn(`skipping Kafka tests: ${unavailable}`);
const maybe = unavailable ? describe.skip : describe;
const run = promisify(execFile);

const SITE = 'dcfb31a1-d615-4361-8c95-b9dde05aa704';
const alarm = (type: 'device_down' | 'device_reconnected', mac: string, atS: number): string => {
  const sample = sampleJson(type === 'device_down' ? 'alarms__device-down-alarmdef.json' : 'alarms__device-reconnected-alarmdef.json').events[0]!;
  return JSON.stringify({ topic: 'alarms', events: [{ ...sample, site_id: SITE, id: `${type}-${mac}-${atS}`, aps: [mac], hostnames: [`AP-${mac.slice(-4)}`], timestamp: atS, last_seen: atS }] });
};
const mac = (i: number): string => `d420b020${String(i).padStart(4, '0')}`;
/** How often a group was assigned partitions: more than once without a new member is an eviction. */
const joins = (lines: Array<Record<string, unknown>>, group: string): number => lines.filter((l) => l.message === 'partitions assigned' && l.group === group).length;

maybe('state on Kafka through long faults', () => {
  let broker: KafkaBroker;
  let hec: FakeHec;
  let chat: FakeChat;
  beforeEach(async () => {
    [broker, hec, chat] = await Promise.all([new KafkaBroker().start(1, TEST_TOPICS), new FakeHec().start(), new FakeChat().start()]);
  });
  afterEach(async () => {
    await Promise.all([hec.stop(), chat.stop()]);
    await broker.stop();
  });

  const start = (env: Record<string, string>, logger = capturingLogger()) =>
    startPipeline(
      {
        KAFKA_BROKERS: broker.bootstrap,
        KAFKA_IDEMPOTENT: 'false',
        KAFKA_SESSION_TIMEOUT_MS: '6000',
        SPLUNK_HEC_URL: hec.url,
        SPLUNK_HEC_TOKEN: hec.token,
        SPLUNK_HEC_LINGER_MS: '200',
        SPLUNK_HEC_RETRY_MAX_MS: '500',
        ...env,
      },
      { logger: logger.logger, processMetrics: false },
    ).then((pipeline) => Object.assign(pipeline, { lines: logger.lines }));
  const ready = async (pipeline: { adminUrl: string }): Promise<void> =>
    eventually(async () => (await fetch(`${pipeline.adminUrl}/readyz`)).status === 200, 'every group joined', 60_000);

  it('groups a burst into one chat message, and a chat outage longer than the session loses no transition and evicts nobody', async () => {
    const pipeline = await start({ NOTIFY_SLACK_WEBHOOK_URL: `${chat.url}/slack`, NOTIFY_WEBHOOK_URL: `${chat.url}/hook`, NOTIFY_GROUP_S: '3', NOTIFY_RETRY_MAX_MS: '1000' });
    try {
      await ready(pipeline);
      // 20 device_down alarms of one site within NOTIFY_GROUP_S, each its own webhook (and batch).
      for (let i = 0; i < 20; i++) expect((await postWebhook(pipeline.url, alarm('device_down', mac(i), 1_700_000_000 + i))).status).toBe(200);
      await eventually(() => chat.delivered('/hook').length === 20, 'twenty openings at the generic webhook', 30_000);
      // Everything the Slack group read is committed, so every message it would send is out.
      await eventually(async () => (await pipeline.bus.lag()).filter((l) => l.group === 'mistbridge-notify-slack').every((l) => l.lag === 0) && chat.delivered('/slack').length >= 1, 'the Slack group done', 30_000);
      expect(chat.delivered('/slack')).toHaveLength(1);
      expect((chat.delivered('/slack')[0] as { text: string }).text).toMatch(/^20 incident changes at .*: 20 opened, 0 resolved\n/);

      // The chat is down for longer than the consumer session while devices come back.
      chat.down = 503;
      for (let i = 0; i < 5; i++) expect((await postWebhook(pipeline.url, alarm('device_reconnected', mac(i), 1_700_000_100 + i))).status).toBe(200);
      await new Promise((resolve) => setTimeout(resolve, 9000));
      chat.down = null;
      await eventually(() => chat.delivered('/hook').filter((h) => h.transition === 'resolved').length === 5, 'every resolution after the outage', 30_000);
      expect(await metricSum(pipeline, 'mistbridge_notifications_total', { destination: 'webhook', outcome: 'retried' })).toBeGreaterThan(0);
      for (const group of ['mistbridge-notify-slack', 'mistbridge-notify-webhook']) expect({ group, joins: joins(pipeline.lines, group) }).toEqual({ group, joins: 1 });
    } finally {
      await pipeline.stop();
    }
  });

  it('a Splunk outage longer than the session, acks on: no eviction, nothing twice, the backlog in full batches, the retries counted', async () => {
    const pipeline = await start({ SPLUNK_HEC_ACK: 'true', SPLUNK_HEC_ACK_POLL_MS: '100' });
    try {
      await ready(pipeline);
      hec.down = HEC_REPLIES.busy;
      const ids: string[] = [];
      for (let i = 0; i < 60; i++) {
        const body = alarm('device_down', mac(100 + i), 1_700_000_000 + i);
        expect((await postWebhook(pipeline.url, body)).status).toBe(200);
        ids.push(`device_down-${mac(100 + i)}-${1_700_000_000 + i}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 9000));
      const before = hec.requests.length;
      hec.down = null;
      await eventually(() => ids.every((id) => hec.events().some((e) => e.event.mist_id === id)), 'every event after the outage', 30_000);
      const events = hec.events().filter((e) => ids.includes(e.event.mist_id as string));
      expect(events).toHaveLength(60); // each once: no member was evicted and redelivered
      // The backlog went out in full batches (SPLUNK_HEC_BATCH_MAX_EVENTS 500), not one event a request.
      const delivering = hec.requests.slice(before).filter((r) => r.status === 200);
      expect(delivering.reduce((n, r) => n + r.events, 0) / delivering.length).toBeGreaterThan(10);
      expect(await metricSum(pipeline, 'mistbridge_hec_events_total', { outcome: 'retried' })).toBeGreaterThan(0);
      expect(joins(pipeline.lines, 'mistbridge-splunk')).toBe(1);
    } finally {
      await pipeline.stop();
    }
  });

  it('a redrive of an incident refused by Splunk goes through the redrive topic: the compacted topic is not written', async () => {
    const pipeline = await start({ DATA_DIR: mkdtempSync(join(tmpdir(), 'mistbridge-state-')) });
    const topics = topicNames('mist.');
    const bus = new KafkaBus({ brokers: [broker.bootstrap], clientId: 'state-test', ssl: null, sasl: null, idempotent: false, partitions: 4, replicationFactor: 1, rawRetentionMs: 86_400_000, sessionTimeoutMs: 6000, produceCoalesce: false, produceLingerMs: 0, ocsf: false }, topics, silentLogger());
    try {
      await ready(pipeline);
      // Splunk refuses the incident write.
      hec.refuseOnce = (e) => e.sourcetype === 'juniper:mist:incident';
      expect((await postWebhook(pipeline.url, alarm('device_down', mac(900), 1_700_000_000))).status).toBe(200);
      await eventually(async () => (await metricSum(pipeline, 'mistbridge_dlq_total', { stage: 'splunk', reason: 'hec_rejected' })) === 1, 'the incident dead-lettered by the splunk stage', 30_000);
      await bus.start();
      const endsBefore = await bus.endOffsets(topics.incidents);

      const { stdout } = await run(process.execPath, [CLI, 'dlq', 'redrive', '--stage', 'splunk'], { env: { PATH: process.env.PATH, KAFKA_BROKERS: broker.bootstrap, KAFKA_IDEMPOTENT: 'false' } });
      expect(stdout).toMatch(/^redriven [0-9a-f]{16}$/m);
      await eventually(() => hec.incidents().length === 1, 'the incident at Splunk, from the redrive topic', 30_000);
      expect(await bus.endOffsets(topics.incidents)).toEqual(endsBefore);
      expect((await bus.snapshot(topics.incidents)).filter((m) => m.headers['mistbridge-redrive'] !== undefined)).toEqual([]);
      expect([...(await bus.endOffsets(topics.redrive)).values()].reduce((n, o) => n + Number(o), 0)).toBe(1);
      expect(await metricSum(pipeline, 'mistbridge_dlq_redriven_total', { stage: 'splunk' })).toBe(1);
    } finally {
      await bus.close();
      await pipeline.stop();
    }

  });
  it('a record of a later schema version on the topics: every role starts, it is dead-lettered without that schema and read with it', async () => {
    const next = nextIncidentSchema();
    const topics = topicNames('mist.');
    const bus = new KafkaBus({ brokers: [broker.bootstrap], clientId: 'state-test', ssl: null, sasl: null, idempotent: false, partitions: 4, replicationFactor: 1, rawRetentionMs: 86_400_000, sessionTimeoutMs: 6000, produceCoalesce: false, produceLingerMs: 0, ocsf: false }, topics, silentLogger());
    await bus.start();
    const record = { ...sampleIncident(), key: 'device:09dac91f-6e73-4100-89f7-698e0fafbb1b:d420b02000fa', next_field: 'later' };
    await bus.produce(topics.incidents, [{ key: String(record.key), value: next.type.toBuffer(record), headers: { [SCHEMA_HEADER]: next.fingerprint } }]);
    await bus.close();

    const without = await start({});
    try {
      await ready(without);
      await eventually(async () => (await metricSum(without, 'mistbridge_dlq_total', { reason: 'schema_mismatch' })) >= 1, 'dead-lettered by a consumer', 30_000);
    } finally {
      await without.stop();
    }
    const withHistory = await start({ SCHEMA_HISTORY_DIR: next.dir });
    try {
      await ready(withHistory);
      await eventually(async () => ((await (await fetch(`${withHistory.adminUrl}/api/incidents`)).json()) as unknown[]).length === 1, 'the incident read with its writer schema', 30_000);
      await eventually(async () => (await metricSum(withHistory, 'mistbridge_incidents_open', { kind: 'device' })) === 1, 'counted by the metrics role', 30_000);
    } finally {
      await withHistory.stop();
    }
  });

  it('metrics replicas split the gauges by partition: after a rebalance each device and open incident is exported by one replica only', async () => {
    const first = await start({ MISTBRIDGE_ROLES: 'ingress,normalizer,correlator,metrics' });
    let second: Awaited<ReturnType<typeof start>> | null = null;
    try {
      await ready(first);
      const macs = Array.from({ length: 12 }, (_, i) => mac(500 + i));
      for (const [i, m] of macs.entries()) expect((await postWebhook(first.url, alarm('device_down', m, 1_700_000_000 + i))).status).toBe(200);
      await eventually(async () => (await metricSum(first, 'mistbridge_incidents_open', { kind: 'device' })) === 12, 'twelve open incidents', 30_000);
      // Devices only the Mist API inventory knows (connected): their series must move with their partition too.
      const inventoried = Array.from({ length: 8 }, (_, i) => mac(600 + i));
      const topics = topicNames('mist.');
      const bus = new KafkaBus({ brokers: [broker.bootstrap], clientId: 'state-test', ssl: null, sasl: null, idempotent: false, partitions: 4, replicationFactor: 1, rawRetentionMs: 86_400_000, sessionTimeoutMs: 6000, produceCoalesce: false, produceLingerMs: 0, ocsf: false }, topics, silentLogger());
      const org = '09dac91f-6e73-4100-89f7-698e0fafbb1b';
      await bus.produce(topics.inventory, inventoried.map((m) => ({ key: deviceKey(org, m), value: encodeInventory({ kind: 'device', org_id: org, mac: m, name: null, model: null, type: 'ap', site_id: SITE, site_name: null, status: 'connected', status_at: 1, disconnected_checks: 0 }) })));
      await bus.close();
      macs.push(...inventoried);
      await eventually(async () => (await first.metrics.registry.getSingleMetric('mistbridge_device_up')!.get()).values.length === 20, 'the inventoried devices exported', 30_000);
      second = await start({ MISTBRIDGE_ROLES: 'metrics' });
      const series = async (p: typeof first): Promise<string[]> => (await p.metrics.registry.getSingleMetric('mistbridge_device_up')!.get()).values.map((v) => String(v.labels.device_mac));
      await eventually(
        async () => {
          const [a, b] = [await series(first), await series(second!)];
          const open = (await metricSum(first, 'mistbridge_incidents_open', { kind: 'device' })) + (await metricSum(second!, 'mistbridge_incidents_open', { kind: 'device' }));
          return b.length > 0 && open === 12 && [...a, ...b].sort().join() === [...macs].sort().join();
        },
        'each device and incident on one replica after the rebalance',
        45_000,
      );
    } finally {
      await second?.stop();
      await first.stop();
    }
  });
});
