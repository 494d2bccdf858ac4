import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventIdsOf } from '../helpers/events';
import { FakeHec, HEC_REPLIES } from '../helpers/fake-hec';
import { eventually, sampleJson } from '../helpers/fixtures';
import { SECRET, postWebhook } from '../helpers/pipeline';
import { startProcess, type MistbridgeProcess } from '../helpers/process';

/** A distinct device-down alarm per n, so every accepted webhook has its own event_id. */
function alarm(n: number): string {
  const body = sampleJson('alarms__device-down-alarmdef.json');
  body.events[0] = { ...body.events[0], id: `crash-test-${n}`, timestamp: 1700000000 + n };
  return JSON.stringify(body);
}

const idOf = (body: string): string => eventIdsOf([body])[0]!;

describe('a 200 is a promise: kill -9 of the whole process mid-stream loses nothing', () => {
  let hec: FakeHec;
  let processes: MistbridgeProcess[] = [];
  beforeEach(async () => {
    hec = await new FakeHec().start();
  });
  afterEach(async () => {
    for (const p of processes) p.child.kill('SIGKILL');
    processes = [];
    await hec.stop();
  });

  const env = (dataDir: string): Record<string, string> => ({
    MIST_WEBHOOK_SECRET: SECRET,
    DATA_DIR: dataDir,
    SPLUNK_HEC_URL: hec.url,
    SPLUNK_HEC_TOKEN: hec.token,
    SPLUNK_HEC_LINGER_MS: '10',
    SPLUNK_HEC_RETRY_MAX_MS: '200',
  });

  it('delivers every accepted webhook after a crash while HEC was down', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mistbridge-crash-'));
    hec.down = HEC_REPLIES.busy;
    const first = await startProcess(env(dataDir));
    processes.push(first);
    const accepted: string[] = [];
    for (let n = 0; n < 30; n++) {
      const body = alarm(n);
      if ((await postWebhook(first.url, body)).status === 200) accepted.push(idOf(body));
    }
    expect(accepted).toHaveLength(30);
    first.child.kill('SIGKILL');
    await first.exited;

    hec.down = null;
    const second = await startProcess(env(dataDir));
    processes.push(second);
    await eventually(() => hec.hasAll(accepted), 'every accepted event at HEC');
  });

  it('delivers every accepted webhook when the process dies in the middle of a stream', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mistbridge-crash-'));
    const first = await startProcess(env(dataDir));
    processes.push(first);
    const accepted: string[] = [];
    let n = 0;
    const stream = (async () => {
      for (; n < 400; n++) {
        const body = alarm(n);
        try {
          if ((await postWebhook(first.url, body)).status === 200) accepted.push(idOf(body));
        } catch {
          return; // connection refused: the process is gone
        }
      }
    })();
    await eventually(() => accepted.length >= 100, '100 accepted webhooks');
    first.child.kill('SIGKILL');
    await stream;
    await first.exited;
    expect(accepted.length).toBeGreaterThanOrEqual(100);

    const second = await startProcess(env(dataDir));
    processes.push(second);
    await eventually(() => hec.hasAll(accepted), `all ${accepted.length} accepted events at HEC`);
    // Redelivery is allowed, but only as the same event_id.
    const known = new Set(Array.from({ length: n + 1 }, (_, i) => idOf(alarm(i))));
    expect(hec.eventIds().every((id) => known.has(id))).toBe(true);
  });

  it('exits 0 on SIGTERM after draining', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mistbridge-crash-'));
    const p = await startProcess(env(dataDir));
    processes.push(p);
    expect((await postWebhook(p.url, alarm(1))).status).toBe(200);
    await eventually(() => hec.events().length === 1, 'delivered');
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
    expect(p.logs.some((l) => l.message === 'mistbridge stopped')).toBe(true);
  });
});
