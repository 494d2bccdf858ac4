import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, unlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ManualClock } from '../helpers/clock';
import { FakeHec } from '../helpers/fake-hec';
import { FakeMistApi } from '../helpers/fake-mist-api';
import { eventually, sampleJson } from '../helpers/fixtures';
import { postWebhook, startPipeline } from '../helpers/pipeline';

/**
 * A real full disk: DATA_DIR on a 16 MiB tmpfs filled to the last byte. Mounting needs root; where
 * it is not allowed the test says so and skips (it is a privilege of the machine, not a package).
 */
function mountTmpfs(): { dir: string; unmount: () => void } | string {
  const dir = mkdtempSync(join(tmpdir(), 'mistbridge-full-disk-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', dir], { stdio: 'pipe' });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    return `cannot mount a tmpfs here (${(err as Error).message.split('\n')[0]})`;
  }
  return {
    dir,
    unmount: () => {
      execFileSync('umount', [dir]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Fills the file system of `dir` up to the last byte it will take. */
function fill(dir: string): string {
  const path = join(dir, 'filler');
  const chunk = Buffer.alloc(1024 * 1024);
  for (let step = chunk.length; step >= 512; ) {
    try {
      writeFileSync(path, chunk.subarray(0, step), { flag: 'a' });
    } catch {
      step = Math.floor(step / 2);
    }
  }
  return path;
}

const probe = process.platform === 'linux' ? mountTmpfs() : 'not Linux';
if (typeof probe === 'string') console.warn(`skipping the full-disk test: ${probe}`);
else probe.unmount();

(typeof probe === 'string' ? describe.skip : describe)('a real full disk (tmpfs)', () => {
  jest.setTimeout(60_000);

  it('refuses webhooks with 503, and a back-fill pass whose write failed marks nothing: the next pass delivers the events', async () => {
    const disk = mountTmpfs() as { dir: string; unmount: () => void };
    const [hec, api] = await Promise.all([new FakeHec().start(), new FakeMistApi().start()]);
    const clock = new ManualClock();
    const pipeline = await startPipeline(
      { DATA_DIR: disk.dir, SPLUNK_HEC_URL: hec.url, SPLUNK_HEC_TOKEN: hec.token, SPLUNK_HEC_LINGER_MS: '5', MIST_API_TOKEN: api.token, MIST_API_HOST: api.url, MIST_ORG_ID: api.orgId },
      { clock, processMetrics: false },
    );
    try {
      await pipeline.mistApi!.pass({ inventory: true });
      const alarm = { ...sampleJson('alarms__device-down-alarmdef.json').events[0], org_id: api.orgId, id: 'missed-while-full', timestamp: clock.now() / 1000 - 60, last_seen: clock.now() / 1000 - 60 };
      api.alarms = [alarm];
      const filler = fill(disk.dir);
      expect((await postWebhook(pipeline.url, JSON.stringify({ topic: 'alarms', events: [{ ...alarm, id: 'a-webhook' }] }))).status).toBe(503);
      await pipeline.mistApi!.pass();
      expect(pipeline.mistApi!.status()).toMatchObject({ ok: false, reason: expect.stringMatching(/ENOSPC|not stored|unavailable|journal/i) });

      unlinkSync(filler);
      await new Promise((resolve) => setTimeout(resolve, 1100)); // the journal tries again a second after a failed write
      clock.advance(60_000);
      await pipeline.mistApi!.pass();
      expect(pipeline.mistApi!.status()).toMatchObject({ ok: true });
      await eventually(() => hec.events().some((e) => e.event.mist_id === 'missed-while-full'), 'the event the failed pass found, delivered by the next', 20_000);
    } finally {
      await pipeline.stop();
      await Promise.all([hec.stop(), api.stop()]);
      disk.unmount();
    }
  });

  it('drops the redeliver archive before it refuses a webhook', async () => {
    const disk = mountTmpfs() as { dir: string; unmount: () => void };
    const pipeline = await startPipeline({ DATA_DIR: disk.dir, MISTBRIDGE_ROLES: 'ingress,normalizer' });
    try {
      // Nine 1 MiB webhooks: a journal segment (8 MiB) rolls, is normalized, and stays in the archive.
      const big = (i: number): string => JSON.stringify({ topic: 'audits', events: [{ ...sampleJson('audits__accessed-org-real.json').events[0], id: `big-${i}`, pad: 'x'.repeat(1024 * 1024) }] });
      for (let i = 0; i < 9; i++) expect((await postWebhook(pipeline.url, big(i))).status).toBe(200);
      const raw = join(disk.dir, 'raw');
      await eventually(() => readdirSync(raw).filter((f) => f.endsWith('.log')).length === 2, 'a normalized segment kept in the archive');
      fill(disk.dir);
      expect((await postWebhook(pipeline.url, big(9))).status).toBe(200); // room made from the archive
      expect(readdirSync(raw).filter((f) => f.endsWith('.log'))).toHaveLength(1);
    } finally {
      await pipeline.stop();
      disk.unmount();
    }
  });
});
