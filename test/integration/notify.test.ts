import { appendFileSync, existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { sampleJson, eventually } from '../helpers/fixtures';
import { metricSum, postWebhook, startPipeline } from '../helpers/pipeline';
import { FakeChat } from '../helpers/fake-chat';

type Json = Record<string, unknown>;

const down = (mac: string, name: string, atS: number, patch: Json = {}): string => {
  const alarm = sampleJson('alarms__device-down-alarmdef.json').events[0]!;
  return JSON.stringify({ topic: 'alarms', events: [{ ...alarm, id: `down-${mac}-${atS}`, aps: [mac], hostnames: [name], timestamp: atS, last_seen: atS, ...patch }] });
};
const up = (mac: string, name: string, atS: number): string => {
  const alarm = sampleJson('alarms__device-reconnected-alarmdef.json').events[0]!;
  return JSON.stringify({ topic: 'alarms', events: [{ ...alarm, site_id: sampleJson('alarms__device-down-alarmdef.json').events[0]!.site_id, id: `up-${mac}-${atS}`, aps: [mac], hostnames: [name], timestamp: atS, last_seen: atS }] });
};

describe('notifications (CONTRACT section 9)', () => {
  jest.setTimeout(30_000);
  let chat: FakeChat;
  beforeEach(async () => {
    chat = await new FakeChat().start();
  });
  afterEach(() => chat.stop());

  it('sends a device down and its recovery, with names, in the shape each service documents', async () => {
    const pipeline = await startPipeline({
      NOTIFY_SLACK_WEBHOOK_URL: `${chat.url}/slack`,
      NOTIFY_TEAMS_WEBHOOK_URL: `${chat.url}/teams`,
      NOTIFY_GOOGLECHAT_WEBHOOK_URL: `${chat.url}/gchat`,
      NOTIFY_WEBHOOK_URL: `${chat.url}/hook`,
      NOTIFY_GROUP_S: '1',
      NOTIFY_LINK_SPLUNK: 'https://splunk.example.com/app/mistbridge/search?q=incident_id%3D{incident_id}',
    });
    try {
      expect(await metricSum(pipeline, 'mistbridge_notifications_total', { destination: 'slack' })).toBe(0);
      await postWebhook(pipeline.url, down('d420b02000fa', 'AP-Lobby', 1_700_000_000));
      await eventually(() => ['/slack', '/teams', '/gchat', '/hook'].every((p) => chat.delivered(p).length === 1), 'the opened message at each destination');
      await postWebhook(pipeline.url, up('d420b02000fa', 'AP-Lobby', 1_700_000_040));
      await eventually(() => ['/slack', '/teams', '/gchat', '/hook'].every((p) => chat.delivered(p).length === 2), 'the resolved message at each destination');

      const [opened, resolved] = chat.delivered('/slack') as Array<{ text: string; attachments: Array<{ color: string; blocks: Array<{ type: string; text?: { text: string } }> }> }>;
      expect(opened!.text).toMatch(/^Medium: AP AP-Lobby \(d420b02000fa\) offline\n\[medium\] AP AP-Lobby \(d420b02000fa\) offline since 2023-11-14 22:13 UTC <https:\/\/splunk.example.com\/app\/mistbridge\/search\?q=incident_id%3D[0-9a-f]{32}\|Splunk>$/);
      expect(opened!.attachments[0]!.blocks.map((b) => b.type)).toEqual(['header', 'section', 'context']);
      expect(opened!.attachments[0]!.color).toBe('#FB8C00');
      expect(resolved!.text).toMatch(/\[resolved\] AP AP-Lobby \(d420b02000fa\) offline: back online after 40 s/);
      expect(resolved!.attachments[0]!.color).toBe('#2E7D32');

      const teams = chat.delivered('/teams')[0] as { type: string; attachments: Array<{ contentType: string; content: { type: string; version: string; body: Array<{ type: string; text: string }> } }> };
      expect(teams.type).toBe('message');
      expect(teams.attachments[0]).toMatchObject({ contentType: 'application/vnd.microsoft.card.adaptive', content: { type: 'AdaptiveCard', version: '1.4' } });
      expect(teams.attachments[0]!.content.body[0]!.text).toBe('Medium: AP AP-Lobby (d420b02000fa) offline');

      const gchat = chat.delivered('/gchat')[1] as { text: string; cardsV2: Array<{ cardId: string; card: { header: { title: string }; sections: Array<{ widgets: Array<{ textParagraph: { text: string } }> }> } }> };
      expect(gchat.cardsV2[0]!.card.header.title).toBe('Resolved: AP AP-Lobby (d420b02000fa) offline');
      expect(gchat.text).toMatch(/back online after 40 s/);

      const hook = chat.delivered('/hook') as Array<{ transition: string; incident: Json; links: Json }>;
      expect(hook.map((h) => h.transition)).toEqual(['opened', 'resolved']);
      expect(hook[1]!.incident).toMatchObject({ kind: 'device', state: 'resolved', resolve_reason: 'recovery_event' });
      expect(hook[1]!.incident).not.toHaveProperty('applied_event_ids');
      expect(hook[0]!.links.splunk).toMatch(/incident_id%3D[0-9a-f]{32}$/);
      // Counted once the destination's answer was read (just after the stand-in recorded it).
      await eventually(async () => (await metricSum(pipeline, 'mistbridge_notifications_total', { destination: 'slack', outcome: 'sent' })) === 2, 'two sent');
    } finally {
      await pipeline.stop();
    }
  });

  it('groups 20 downs at one site within the window into one message, and filters by severity', async () => {
    const pipeline = await startPipeline({ NOTIFY_SLACK_WEBHOOK_URL: `${chat.url}/slack`, NOTIFY_GROUP_S: '2', NOTIFY_MIN_SEVERITY: 'medium' });
    try {
      for (let i = 0; i < 20; i++) await postWebhook(pipeline.url, down(`d420b02000${String(i).padStart(2, '0')}`, `AP-${i}`, 1_700_000_000 + i));
      await postWebhook(pipeline.url, down('d420b0200099', 'AP-minor', 1_700_000_100, { severity: 'info' })); // below the minimum
      await eventually(() => chat.delivered('/slack').length >= 1, 'the grouped message');
      await new Promise((resolve) => setTimeout(resolve, 2500));
      const messages = chat.delivered('/slack') as Array<{ text: string }>;
      expect(messages).toHaveLength(1);
      expect(messages[0]!.text).toMatch(/^20 incident changes at dcfb31a1-d615-4361-8c95-b9dde05aa704: 20 opened, 0 resolved\n/);
      expect(messages[0]!.text.split('\n').filter((l) => l.startsWith('[medium]'))).toHaveLength(20);
      expect(messages[0]!.text).not.toContain('AP-minor');
    } finally {
      await pipeline.stop();
    }
  });

  it('retries a 429 after its Retry-After and delivers once; dead-letters a 400', async () => {
    const pipeline = await startPipeline({ NOTIFY_SLACK_WEBHOOK_URL: `${chat.url}/slack`, NOTIFY_GROUP_S: '0' });
    try {
      chat.script.push({ status: 429, headers: { 'retry-after': '1' } });
      await postWebhook(pipeline.url, down('d420b0200001', 'AP-1', 1_700_000_000));
      await eventually(() => chat.delivered('/slack').length === 1, 'delivered after the 429');
      expect(chat.received.map((r) => r.status)).toEqual([429, 200]);
      expect(await metricSum(pipeline, 'mistbridge_notifications_total', { destination: 'slack', outcome: 'retried' })).toBe(1);

      chat.script.push({ status: 400 });
      await postWebhook(pipeline.url, down('d420b0200002', 'AP-2', 1_700_000_000));
      await eventually(() => existsSync(join(pipeline.dataDir, 'dlq.ndjson')) && readFileSync(join(pipeline.dataDir, 'dlq.ndjson'), 'utf8').includes('notify_rejected'), 'the dead letter');
      const letter = JSON.parse(readFileSync(join(pipeline.dataDir, 'dlq.ndjson'), 'utf8').trim().split('\n').pop()!) as Json;
      expect(letter).toMatchObject({ stage: 'notify', destination: 'slack', reason: 'notify_rejected', error: expect.stringMatching(/HTTP 400/) });
      expect(letter.error).not.toContain(chat.url.replace('http://', '') + '/slack'); // the host only, never the URL's path (its secret)
      expect(await metricSum(pipeline, 'mistbridge_notifications_total', { destination: 'slack', outcome: 'rejected' })).toBe(1);
    } finally {
      await pipeline.stop();
    }
  });

  it('sends again what a crash interrupted mid-delivery (at-least-once), losing nothing', async () => {
    const env = { NOTIFY_SLACK_WEBHOOK_URL: `${chat.url}/slack`, NOTIFY_GROUP_S: '0' };
    const first = await startPipeline(env);
    chat.script.push({ status: 200, hold: true }); // the destination never answers this one
    await postWebhook(first.url, down('d420b0200003', 'AP-3', 1_700_000_000));
    await eventually(() => chat.received.length === 1, 'the request in flight');
    await first.abandon(); // kill -9 while the destination holds the request
    const second = await startPipeline({ ...env, DATA_DIR: first.dataDir });
    try {
      await eventually(() => chat.delivered('/slack').length === 1, 'sent again after the restart');
      expect((chat.delivered('/slack')[0] as { text: string }).text).toMatch(/AP AP-3 \(d420b0200003\) offline/);
    } finally {
      await second.stop();
    }
  });
});

describe('redriving notify letters (CONTRACT section 10)', () => {
  jest.setTimeout(30_000);
  let chat: FakeChat;
  beforeEach(async () => {
    chat = await new FakeChat().start();
  });
  afterEach(() => chat.stop());

  const redrive = async (adminUrl: string, body: object): Promise<{ redriven: string[]; refused: Array<{ id: string; why: string }> }> =>
    (await fetch(`${adminUrl}/api/dlq/redrive`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json() as Promise<never>;

  it('sends a redriven letter again to its destination only, whatever was sent since, and counts what was re-sent', async () => {
    const pipeline = await startPipeline({ NOTIFY_SLACK_WEBHOOK_URL: `${chat.url}/slack`, NOTIFY_WEBHOOK_URL: `${chat.url}/hook`, NOTIFY_GROUP_S: '0' });
    try {
      chat.script.push({ status: 400 }); // the first request, to whichever destination asks first, is refused
      await postWebhook(pipeline.url, down('d420b0200005', 'AP-5', 1_700_000_000));
      await eventually(() => chat.received.length === 2, 'both destinations asked');
      const refusedPath = chat.received.find((r) => r.status === 400)!.path;
      const refused = refusedPath === '/slack' ? 'slack' : 'webhook';
      // the letter is durable a moment after the chat answered 400
      const dlqFile = join(pipeline.dataDir, 'dlq.ndjson');
      await eventually(() => existsSync(dlqFile) && readFileSync(dlqFile, 'utf8').trim() !== '', 'the refused message dead-lettered');
      const letters = readFileSync(dlqFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Json);
      expect(letters).toEqual([expect.objectContaining({ stage: 'notify', destination: refused, topic: 'mist.incidents' })]);

      const result = await redrive(pipeline.adminUrl, { stage: 'notify' });
      expect(result.redriven).toEqual([letters[0]!.id]);
      await eventually(() => chat.delivered(refusedPath).length === 1, 'the refused destination sent the message');
      await new Promise((resolve) => setTimeout(resolve, 300));
      // The other destination had it already: it is not sent again.
      expect(chat.delivered(refusedPath === '/slack' ? '/hook' : '/slack')).toHaveLength(1);
      await eventually(async () => (await metricSum(pipeline, 'mistbridge_dlq_redriven_total', { stage: 'notify' })) === 1, 'the re-send counted');
    } finally {
      await pipeline.stop();
    }
  });

  it('a 0.2 notify letter (no destination) goes only to the destinations named', async () => {
    const pipeline = await startPipeline({ NOTIFY_SLACK_WEBHOOK_URL: `${chat.url}/slack`, NOTIFY_WEBHOOK_URL: `${chat.url}/hook`, NOTIFY_GROUP_S: '0' });
    try {
      await postWebhook(pipeline.url, down('d420b0200006', 'AP-6', 1_700_000_000));
      await eventually(() => chat.delivered('/slack').length === 1 && chat.delivered('/hook').length === 1, 'both told');
      // A letter as 0.2 wrote it: the incident record, stage notify, no destination.
      const [incident] = (await (await fetch(`${pipeline.adminUrl}/api/incidents`)).json()) as Json[];
      const { incidentCodec } = await import('../../src/domain/incident');
      const { deadLetter } = await import('../../src/dlq/dead-letter');
      const full = { ...incident, device_type: 'ap', applied_event_ids: [] } as never;
      const letter = deadLetter('notify', 'notify_rejected', 'HTTP 400', { topic: 'mist.incidents', partition: 0, offset: '0', key: String(incident!.key), value: incidentCodec().encode(full), headers: {} }, { now: Date.now(), maxValueBytes: 1 << 20 });
      appendFileSync(join(pipeline.dataDir, 'dlq.ndjson'), `${letter.value!.toString()}\n`);

      const refused = await redrive(pipeline.adminUrl, { stage: 'notify' });
      expect(refused.redriven).toEqual([]);
      expect(refused.refused[0]!.why).toMatch(/names no destination; name one with --destination/);
      await redrive(pipeline.adminUrl, { stage: 'notify', destinations: ['webhook'] });
      await eventually(() => chat.delivered('/hook').length === 2, 'sent again to the named destination');
      await new Promise((resolve) => setTimeout(resolve, 300));
      expect(chat.delivered('/slack')).toHaveLength(1);
    } finally {
      await pipeline.stop();
    }
  });
});
