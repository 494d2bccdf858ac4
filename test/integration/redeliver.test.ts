import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { redeliverCommand } from '../../src/commands/redeliver';
import { journalWindow } from '../../src/commands/redeliver-source';
import { loadConfig } from '../../src/config/load';
import { silentLogger } from '../../src/shared/logger';
import { FakeChat } from '../helpers/fake-chat';
import { FakeHec } from '../helpers/fake-hec';
import { eventually, sampleJson, tempFile } from '../helpers/fixtures';
import { SECRET, postWebhook, startPipeline } from '../helpers/pipeline';
import { CLI } from '../helpers/process';

/**
 * `mistbridge redeliver` (CONTRACT section 10): "Splunk lost Tuesday". Events delivered, the HEC
 * stand-in cleared (the index was lost), a window re-delivered: exactly that window's events,
 * with their ids; a window past retention refused with the earliest --from that works; the
 * incident state untouched.
 */
const HOUR = 3_600_000;

function alarmAt(ms: number, mac: string): string {
  const body = sampleJson('alarms__switch-down-alarmdef.json');
  return JSON.stringify({ ...body, events: body.events.map((e) => ({ ...e, timestamp: Math.floor(ms / 1000), last_seen: Math.floor(ms / 1000), switches: [mac], id: `alarm-${mac}` })) });
}

describe('mistbridge redeliver (embedded)', () => {
  jest.setTimeout(60_000);

  it('re-delivers exactly a window of event time, with the same event_ids, to Splunk only; a dry run counts; past retention is refused; incident state unchanged', async () => {
    const hec = await new FakeHec().start();
    const now = Date.now();
    const pipeline = await startPipeline({ SPLUNK_HEC_URL: hec.url, SPLUNK_HEC_TOKEN: hec.token, SPLUNK_HEC_LINGER_MS: '5' });
    const dataDir = pipeline.dataDir;
    try {
      // Three events: 5 h, 2 h and 10 min old by their own time, all received now.
      for (const [age, mac] of [[5 * HOUR, 'aaaaaa000001'], [2 * HOUR, 'aaaaaa000002'], [10 * 60_000, 'aaaaaa000003']] as const) expect((await postWebhook(pipeline.url, alarmAt(now - age, mac))).status).toBe(200);
      await eventually(() => hec.events().length === 3, 'three events in Splunk');
    } finally {
      await pipeline.stop();
    }
    const byMac = new Map(hec.events().map((e) => [String(e.event.device_mac), String(e.event.event_id)]));
    const incidents = join(dataDir, 'topics');
    const stateBefore = existsSync(incidents) ? readdirSync(incidents).map((f) => readFileSync(join(incidents, f), 'utf8')).join('|') : '';
    hec.indexed.splice(0); // the index was lost

    const env = { PATH: process.env.PATH ?? '', DATA_DIR: dataDir, MIST_WEBHOOK_SECRET: SECRET, SPLUNK_HEC_URL: hec.url, SPLUNK_HEC_TOKEN: hec.token };
    // Asynchronous: the HEC stand-in answers from this process's event loop.
    const redeliver = (args: string[]): Promise<{ status: number | null; stdout: string; stderr: string }> =>
      new Promise((resolve) => {
        const child = spawn(process.execPath, [CLI, 'redeliver', ...args], { env });
        let stdout = '';
        let stderr = '';
        child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
        child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
        child.once('close', (status) => resolve({ status, stdout, stderr }));
      });
    // The events were received hours after their time: a margin that wide reads them
    const window = ['--from', new Date(now - 3 * HOUR).toISOString(), '--until', String(Math.floor((now - HOUR) / 1000)), '--margin', '3h'];

    const dry = await redeliver([...window, '--sink', 'splunk', '--dry-run']);
    expect(dry).toMatchObject({ status: 0, stdout: expect.stringMatching(/^dry run: 1 events for Splunk from 3 webhooks\n {2}alarms: 1\n$/) });
    expect(hec.events()).toHaveLength(0);

    const done = await redeliver([...window, '--sink', 'splunk']);
    expect(done).toMatchObject({ status: 0, stdout: 'redelivered 1 of 1 events to Splunk\n' });
    expect(hec.events().map((e) => e.event.event_id)).toEqual([byMac.get('aaaaaa000002')]);

    // Past retention: nothing received that early is kept
    const past = await redeliver(['--from', new Date(now - 30 * 24 * HOUR).toISOString(), '--until', new Date(now - 29 * 24 * HOUR).toISOString(), '--sink', 'splunk']);
    expect(past.status).toBe(2);
    expect(past.stderr).toMatch(/past retention.*the earliest --from that would work is \d{4}-\d\d-\d\dT/);

    expect(await redeliver(['--from', 'yesterday', '--until', 'now', '--sink', 'splunk'])).toMatchObject({ status: 2, stderr: expect.stringMatching(/--from: yesterday is neither ISO 8601 nor epoch/) });
    expect(await redeliver([...window])).toMatchObject({ status: 2, stderr: expect.stringMatching(/name one output/) });

    // --route: one event route only, its filter applied, one POST per event for a generic webhook
    const chat = await new FakeChat().start();
    const yaml = tempFile('mistbridge.yaml', `notify:\n  routes:\n    - name: switches\n      kind: webhook\n      destination: ${chat.url}/switches\n      events: { topic: alarms }\n      rate_per_s: 100\n`);
    const lines: string[] = [];
    const terminal: string[] = [];
    const config = loadConfig({ ...env, MISTBRIDGE_CONFIG: yaml }, { roles: [] });
    const code = await redeliverCommand([...window, '--route', 'switches'], config, silentLogger(), { stdout: (l) => lines.push(l), stderr: (l) => lines.push(l) }, { terminal: (t) => terminal.push(t) });
    expect({ code, lines }).toEqual({ code: 0, lines: ['redelivered 1 of 1 events to route switches'] });
    expect(chat.delivered('/switches')).toEqual([{ event: expect.objectContaining({ event_id: byMac.get('aaaaaa000002') }) }]);
    // The bar on a terminal: webhooks read of those received in the widened window, events, rate, ETA
    expect(terminal.at(-2)).toMatch(/^\r\[#{30}\] 1 events, 3\/3 webhooks read, \d+\/s, ETA 0s $/);
    expect(terminal.at(-1)).toBe('\n');
    await chat.stop();

    // No incident, inventory or offset state written: the compacted stores are as they were
    const stateAfter = existsSync(incidents) ? readdirSync(incidents).map((f) => readFileSync(join(incidents, f), 'utf8')).join('|') : '';
    expect(stateAfter).toBe(stateBefore);
    await hec.stop();
  });

  it('says so when a running process drops a segment of the archive while it is being read', async () => {
    const pipeline = await startPipeline({});
    try {
      expect((await postWebhook(pipeline.url, alarmAt(Date.now(), 'aaaaaa000009'))).status).toBe(200);
    } finally {
      await pipeline.stop();
    }
    const source = journalWindow(loadConfig({ DATA_DIR: pipeline.dataDir, MIST_WEBHOOK_SECRET: SECRET }, { roles: [] }), 0, Date.now());
    expect(source.webhooks).toBe(1);
    const raw = join(pipeline.dataDir, 'raw');
    for (const file of readdirSync(raw)) if (file.endsWith('.log')) rmSync(join(raw, file));
    await expect(source.read(async () => undefined)).rejects.toThrow(/were dropped from the journal's archive while being read \(retention\).*run again with a later --from/);
  });
});
