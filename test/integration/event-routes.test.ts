import { existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { MistEvent } from '../../src/domain/mist-event';
import { eventBodies, eventMatches } from '../../src/notify/event-route';
import { FakeChat } from '../helpers/fake-chat';
import { eventually, sampleJson, tempFile } from '../helpers/fixtures';
import { SECRET, metricSum, postWebhook, startPipeline } from '../helpers/pipeline';
import { startProcess } from '../helpers/process';

const ZONE = '4495020a-236f-46e0-9453-e3f9cc6476f4';
const zoneBody = (patch: Record<string, unknown>): string => {
  const body = sampleJson('zone__asset-enter-schema.json');
  return JSON.stringify({ ...body, events: body.events.map((e) => ({ ...e, timestamp: Math.floor(Date.now() / 1000), ...patch })) });
};

const config = (routes: string): string => tempFile('mistbridge.yaml', routes);

describe('event routes (CONTRACT section 10)', () => {
  jest.setTimeout(60_000);
  let chat: FakeChat;
  beforeEach(async () => {
    chat = await new FakeChat().start();
  });
  afterEach(() => chat.stop());

  it('filters by topic, type, site, severity and fields (top level, then attributes)', () => {
    const event = { topic: 'zone', type: 'asset', site_id: 's1', severity: 'informational', attributes: { trigger: 'enter', zone_id: ZONE } } as unknown as MistEvent;
    expect(eventMatches({ topic: 'zone', match: { trigger: 'enter', zone_id: ZONE } }, event)).toBe(true);
    expect(eventMatches({ topic: 'zone', match: { trigger: 'exit' } }, event)).toBe(false);
    expect(eventMatches({ topic: 'alarms' }, event)).toBe(false);
    expect(eventMatches({ site_id: 's2' }, event)).toBe(false);
    expect(eventMatches({ severity: 'medium' }, event)).toBe(false);
    expect(eventMatches({ severity: 'informational', type: 'ASSET', match: { site_id: 's1' } }, event)).toBe(true);
  });

  it('posts what each destination takes: webhook one {"event"} per event, Teams an Adaptive Card in a message envelope, Slack and Google Chat text', () => {
    const events = [{ topic: 'zone', type: 'asset', severity: 'informational', message: 'Zone enter: badge-17 entered Lobby' }] as unknown as MistEvent[];
    expect(eventBodies('webhook', events)).toEqual([{ event: events[0] }]);
    expect(eventBodies('teams', events)).toEqual([{ type: 'message', attachments: [expect.objectContaining({ contentType: 'application/vnd.microsoft.card.adaptive', content: expect.objectContaining({ type: 'AdaptiveCard', body: expect.arrayContaining([expect.objectContaining({ text: '• [informational] Zone enter: badge-17 entered Lobby' })]) }) })] }]);
    expect(eventBodies('slack', events)).toEqual([{ text: 'Mist zone: asset\n• [informational] Zone enter: badge-17 entered Lobby' }]);
  });

  it('a zone entry matching a route reaches the generic webhook once, as {"event": …}; a non-matching one does not; incidents never go there', async () => {
    const file = config(`notify:\n  routes:\n    - name: duress\n      kind: webhook\n      destination: ${chat.url}/duress\n      events: { topic: zone, match: { trigger: enter, zone_id: ${ZONE} } }\n      rate_per_s: 50\n`);
    const pipeline = await startPipeline({ MISTBRIDGE_CONFIG: file, NOTIFY_GROUP_S: '0' });
    try {
      await eventually(() => pipeline.notify.every((n) => n.ready()), 'route consumer ready');
      expect((await postWebhook(pipeline.url, zoneBody({ name: 'badge-17' }))).status).toBe(200);
      expect((await postWebhook(pipeline.url, zoneBody({ name: 'badge-18', trigger: 'exit' }))).status).toBe(200);
      expect((await postWebhook(pipeline.url, JSON.stringify(sampleJson('alarms__device-down-alarmdef.json')))).status).toBe(200);
      await eventually(() => chat.delivered('/duress').length === 1, 'the matching event posted');
      await new Promise((resolve) => setTimeout(resolve, 500));
      const posted = chat.delivered('/duress');
      expect(posted).toHaveLength(1);
      expect(posted[0]).toEqual({ event: expect.objectContaining({ topic: 'zone', attributes: expect.objectContaining({ trigger: 'enter' }) }) });
      expect(JSON.stringify(posted[0])).toContain('badge-17');
    } finally {
      await pipeline.stop();
    }
  });

  it('a chat outage on a route never makes the ingress answer 503; what cannot wait is dead-lettered with the route named', async () => {
    const file = config(`notify:\n  routes:\n    - name: zones-chat\n      kind: slack\n      destination: ${chat.url}/slack\n      events: { topic: zone }\n`);
    chat.down = 503;
    const pipeline = await startPipeline({ MISTBRIDGE_CONFIG: file, NOTIFY_GROUP_S: '0', INGRESS_MAX_BACKLOG_BYTES: String(4 * 1024 * 1024), DRAIN_TIMEOUT_MS: '300' }); // the stop: its route still failing, nothing to wait for
    try {
      await eventually(() => pipeline.notify.every((n) => n.ready()), 'route consumer ready');
      // 1,500 zone events (beyond the route's 1,000 queued) while the chat answers 503
      const statuses: number[] = [];
      for (let i = 0; i < 15; i++) {
        const body = sampleJson('zone__asset-enter-schema.json');
        const events = Array.from({ length: 100 }, (_, j) => ({ ...body.events[0], name: `badge-${i}-${j}`, timestamp: Math.floor(Date.now() / 1000) }));
        statuses.push((await postWebhook(pipeline.url, JSON.stringify({ ...body, events }))).status);
      }
      expect(statuses.every((s) => s === 200)).toBe(true);
      await eventually(async () => (await metricSum(pipeline, 'mistbridge_dlq_total', { stage: 'notify', reason: 'notify_rejected' })) >= 1500 - 1000 - 20, 'the overflow dead-lettered (1,000 queued, one message of 20 in flight)');
      expect(await metricSum(pipeline, 'mistbridge_notifications_total', { destination: 'zones-chat', outcome: 'retried' })).toBeGreaterThan(0);
      await eventually(() => existsSync(join(pipeline.dataDir, 'dlq.ndjson')), 'letters durable');
      const [first] = readFileSync(join(pipeline.dataDir, 'dlq.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(first).toMatchObject({ stage: 'notify', destination: 'zones-chat', reason: 'notify_rejected', topic: 'mist.events' });
    } finally {
      await pipeline.stop();
    }
  });

  it('a route whose destination is down lets go of what it holds when memory runs short: dead-lettered, never a 503', async () => {
    const file = config(`notify:\n  routes:\n    - name: zones\n      kind: webhook\n      destination: ${chat.url}/zones\n      events: { topic: zone }\n      rate_per_s: 100\n`);
    chat.down = 503;
    // Reservations bound at 1 MiB: the route lets go past 512 KiB; the ingress refuses at 1 MiB, which
    // the events a route holds reach after a few webhooks of these without the letting go
    const POSTS = 25;
    const pipeline = await startPipeline({ MISTBRIDGE_CONFIG: file, NOTIFY_GROUP_S: '0', NOTIFY_RETRY_MAX_MS: '100', INGRESS_MAX_BACKLOG_BYTES: String(1024 * 1024) });
    try {
      await eventually(() => pipeline.notify.every((n) => n.ready()), 'route consumer ready');
      const statuses: number[] = [];
      for (let i = 0; i < POSTS; i++) {
        const body = sampleJson('zone__asset-enter-schema.json');
        const events = Array.from({ length: 100 }, (_, j) => ({ ...body.events[0], name: `badge-${i}-${j}`, timestamp: Math.floor(Date.now() / 1000) }));
        statuses.push((await postWebhook(pipeline.url, JSON.stringify({ ...body, events }))).status);
        await new Promise((resolve) => setTimeout(resolve, 100));
      }
      expect(statuses).toEqual(Array(POSTS).fill(200));
      const letters = (): string[] => (existsSync(join(pipeline.dataDir, 'dlq.ndjson')) ? readFileSync(join(pipeline.dataDir, 'dlq.ndjson'), 'utf8').trim().split('\n').map((l) => (JSON.parse(l) as { error: string }).error) : []);
      await eventually(() => letters().some((e) => e.includes('needed the memory the route held')), 'letters for the memory');
      // The destination back: every event accounted for, sent or dead-lettered
      chat.down = null;
      await eventually(() => chat.delivered('/zones').length + letters().length === POSTS * 100, 'every event sent or dead-lettered', 30_000);
    } finally {
      await pipeline.stop();
    }
  });

  it('a clean stop sends what a chat route holds in its group window, without waiting for the window', async () => {
    const file = config(`notify:\n  routes:\n    - name: zones-chat\n      kind: slack\n      destination: ${chat.url}/slack\n      events: { topic: zone }\n`);
    const pipeline = await startPipeline({ MISTBRIDGE_CONFIG: file, NOTIFY_GROUP_S: '300' });
    await eventually(() => pipeline.notify.every((n) => n.ready()), 'route consumer ready');
    expect((await postWebhook(pipeline.url, zoneBody({ name: 'badge-7' }))).status).toBe(200);
    await eventually(async () => (await metricSum(pipeline, 'mistbridge_events_total', { topic: 'zone' })) >= 1, 'the event normalized');
    await new Promise((resolve) => setTimeout(resolve, 300)); // in the route's queue, its window open for 300 s
    expect(chat.delivered('/slack')).toHaveLength(0);
    await pipeline.stop();
    expect(chat.delivered('/slack')).toEqual([{ text: expect.stringContaining('badge-7') }]);
    expect(existsSync(join(pipeline.dataDir, 'dlq.ndjson')) ? readFileSync(join(pipeline.dataDir, 'dlq.ndjson'), 'utf8') : '').toBe('');
  });

  it('a kill -9 while the route destination is down loses nothing: the uncommitted events are read again and sent after the restart', async () => {
    const file = config(`notify:\n  routes:\n    - name: duress\n      kind: webhook\n      destination: ${chat.url}/duress\n      events: { topic: zone, match: { trigger: enter } }\n      rate_per_s: 50\n`);
    const env = { MIST_WEBHOOK_SECRET: SECRET, DATA_DIR: mkdtempSync(join(tmpdir(), 'mistbridge-routes-kill-')), MISTBRIDGE_CONFIG: file, NOTIFY_GROUP_S: '0', NOTIFY_RETRY_MAX_MS: '200' };
    chat.down = 503;
    const first = await startProcess(env);
    await eventually(async () => (await fetch(`${first.adminUrl}/readyz`).catch(() => null))?.status === 200, 'ready');
    expect((await postWebhook(first.url, zoneBody({ name: 'badge-41' }))).status).toBe(200);
    await eventually(() => chat.received.filter((r) => r.path === '/duress').length >= 2, 'the route retrying');
    first.child.kill('SIGKILL');
    await first.exited;

    chat.down = null;
    const second = await startProcess(env);
    try {
      await eventually(() => chat.delivered('/duress').length === 1, 'the event sent after the restart');
      expect(JSON.stringify(chat.delivered('/duress')[0])).toContain('badge-41');
    } finally {
      second.child.kill('SIGKILL');
      await second.exited;
    }
  });
});
