import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventIdsOf } from '../helpers/events';
import { FakeHec, HEC_REPLIES } from '../helpers/fake-hec';
import { FakeChat } from '../helpers/fake-chat';
import { eventually, sample, sampleJson, tempFile } from '../helpers/fixtures';
import { KafkaBroker, TEST_TOPICS, kafkaBrokerAvailability } from '../helpers/kafka-broker';
import { SECRET, postWebhook } from '../helpers/pipeline';
import { CLI, startProcess } from '../helpers/process';
import { KafkaBus } from '../../src/bus/kafka/kafka-bus';
import { topicNames } from '../../src/bus/topics';
import { silentLogger } from '../../src/shared/logger';

const unavailable = kafkaBrokerAvailability();
if (unavailable) console.warn(`skipping Kafka tests: ${unavailable}`);

(unavailable ? describe.skip : describe)('mistbridge dlq on Kafka', () => {
  jest.setTimeout(180_000);

  it('lists mist.dlq and redrives a letter by producing it back: delivered once (and, with KAFKA_OCSF, writes the OCSF events to mist.ocsf; redeliver reads the raw topic; an event route loses nothing to a kill -9)', async () => {
    const broker = await new KafkaBroker().start(1, TEST_TOPICS);
    const hec = await new FakeHec().start();
    const env = { KAFKA_BROKERS: broker.bootstrap, KAFKA_IDEMPOTENT: 'false', KAFKA_SESSION_TIMEOUT_MS: '6000' };
    // An event route whose destination is down until the process was killed -9 (see the end)
    const chat = await new FakeChat().start();
    chat.down = 503;
    const yaml = tempFile('mistbridge.yaml', `notify:\n  routes:\n    - name: zones\n      kind: webhook\n      destination: ${chat.url}/zones\n      events: { topic: zone }\n      rate_per_s: 50\n`);
    const routeEnv = { MISTBRIDGE_CONFIG: yaml, NOTIFY_RETRY_MAX_MS: '200', MIST_WEBHOOK_SECRET: SECRET };
    const p = await startProcess({ ...env, ...routeEnv, KAFKA_OCSF: 'true', DATA_DIR: mkdtempSync(join(tmpdir(), 'mistbridge-kdlq-')), SPLUNK_HEC_URL: hec.url, SPLUNK_HEC_TOKEN: hec.token, SPLUNK_HEC_LINGER_MS: '20' }, ['run', '--roles', 'ingress,normalizer,splunk,correlator,notify']); // the stages a Splunk letter passes, the correlator, whose process serves /api/dlq, and an event route: each consumer group joins the test broker in seconds
    let after: Awaited<ReturnType<typeof startProcess>> | null = null;
    const cli = (args: string[]) => spawnSync(process.execPath, [CLI, 'dlq', ...args], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 60_000 });
    try {
      await eventually(async () => (await fetch(`${p.adminUrl}/readyz`).catch(() => null))?.status === 200, 'joined', 60_000);
      const zone = sampleJson('zone__asset-enter-schema.json');
      expect((await postWebhook(p.url, JSON.stringify({ ...zone, events: zone.events.map((e) => ({ ...e, name: 'badge-kafka', timestamp: Math.floor(Date.now() / 1000) })) }))).status).toBe(200);
      hec.script.push(HEC_REPLIES.incorrectIndex(0));
      const body = sample('alarms__switch-down-alarmdef.json');
      const [eventId] = eventIdsOf([body]);
      expect((await postWebhook(p.url, body)).status).toBe(200);
      await eventually(async () => /mistbridge_dlq_total\{stage="splunk",reason="hec_rejected"\} 1/.test(await (await fetch(`${p.adminUrl}/metrics`)).text()), 'the letter written', 60_000);

      // The console's data on Kafka: /api/dlq and /api/dlq/:id read the DLQ topic in the correlator's process
      const page = (await (await fetch(`${p.adminUrl}/api/dlq`)).json()) as Array<{ id: string; stage: string; reason: string; value_base64?: string }>;
      expect(page).toEqual([expect.objectContaining({ stage: 'splunk', reason: 'hec_rejected' })]);
      expect(page[0]!.value_base64).toBeUndefined();
      const shown = (await (await fetch(`${p.adminUrl}/api/dlq/${page[0]!.id}`)).json()) as { id: string; value_base64: string };
      expect(shown).toMatchObject({ id: page[0]!.id, value_base64: expect.stringMatching(/^[A-Za-z0-9+/]+=*$/) });

      const listed = cli(['list', '--json']);
      expect(listed.status).toBe(0);
      const letter = JSON.parse(listed.stdout.trim()) as { id: string; stage: string; key: string };
      expect(letter).toMatchObject({ stage: 'splunk', key: expect.any(String) });
      expect(cli(['redrive', letter.id])).toMatchObject({ status: 0, stdout: `redriven ${letter.id}\n` });
      await eventually(() => hec.events().some((e) => e.event.event_id === eventId), 'the redriven event delivered', 60_000);
      expect(cli(['list']).stdout).toBe('no dead letters match\n');
      await new Promise((resolve) => setTimeout(resolve, 500));
      expect(hec.events().filter((e) => e.event.event_id === eventId)).toHaveLength(1);

      // KAFKA_OCSF: the alarm's OCSF shape on mist.ocsf, as JSON (once per normalization)
      const bus = new KafkaBus({ brokers: [broker.bootstrap], clientId: 'ocsf-reader', ssl: null, sasl: null, idempotent: false, partitions: 2, replicationFactor: 1, rawRetentionMs: 86_400_000, sessionTimeoutMs: 6000, produceCoalesce: false, produceLingerMs: 0, ocsf: true }, topicNames('mist.'), silentLogger());
      const ocsf: Array<{ class_uid: number; metadata: { uid: string } }> = [];
      await bus.readToEnd('mist.ocsf', (m) => void (m.value && ocsf.push(JSON.parse(m.value.toString('utf8')) as never)));
      await bus.close();
      expect(ocsf).toEqual([expect.objectContaining({ class_uid: 2004, metadata: expect.objectContaining({ uid: eventId }) })]);

      // redeliver on Kafka: the raw topic scanned by received_at; a fresh alarm delivered again after the index was lost
      const now = Date.now();
      const fresh = JSON.parse(body.toString()) as { topic: string; events: Array<Record<string, unknown>> };
      fresh.events = fresh.events.map((e) => ({ ...e, timestamp: Math.floor(now / 1000) - 600, id: 'fresh-alarm' }));
      const [freshId] = eventIdsOf([Buffer.from(JSON.stringify(fresh))]);
      expect((await postWebhook(p.url, JSON.stringify(fresh))).status).toBe(200);
      await eventually(() => hec.events().some((e) => e.event.event_id === freshId), 'the fresh alarm delivered', 60_000);
      hec.indexed.splice(0);
      const redelivered = await new Promise<{ status: number | null; stdout: string; stderr: string }>((resolve) => {
        const child = spawn(process.execPath, [CLI, 'redeliver', '--from', String(now - 3_600_000), '--until', String(now), '--topic', 'alarms', '--sink', 'splunk'], { env: { PATH: process.env.PATH ?? '', ...env, SPLUNK_HEC_URL: hec.url, SPLUNK_HEC_TOKEN: hec.token } });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.once('close', (status) => resolve({ status, stdout, stderr }));
      });
      expect(redelivered).toMatchObject({ status: 0, stdout: 'redelivered 1 of 1 events to Splunk\n' });
      expect(hec.events().map((e) => e.event.event_id)).toEqual([freshId]);

      // The event route on Kafka: its destination refused the zone event all along; a kill -9, then a
      // notify process with the destination back sends it (the batch was never committed)
      expect(chat.received.filter((r) => r.path === '/zones').length).toBeGreaterThan(1);
      expect(chat.delivered('/zones')).toEqual([]);
      p.child.kill('SIGKILL');
      await p.exited;
      chat.down = null;
      after = await startProcess({ ...env, ...routeEnv, DATA_DIR: mkdtempSync(join(tmpdir(), 'mistbridge-kdlq-')) }, ['run', '--roles', 'notify']);
      await eventually(() => chat.delivered('/zones').length === 1, 'the zone event sent after the restart', 60_000);
      expect(JSON.stringify(chat.delivered('/zones')[0])).toContain('badge-kafka');
    } finally {
      p.child.kill('SIGKILL');
      await p.exited;
      after?.child.kill('SIGKILL');
      await after?.exited;
      await chat.stop();
      await hec.stop();
      await broker.stop();
    }
  });
});
