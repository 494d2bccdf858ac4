import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createMemoryCgroup, type MemoryCgroup } from '../../bench/cgroup';
import { denseBody } from '../../bench/lib';
import { FakeHec, HEC_REPLIES } from '../helpers/fake-hec';
import { eventually } from '../helpers/fixtures';
import { SECRET, postWebhook } from '../helpers/pipeline';
import { startProcess, type MistbridgeProcess } from '../helpers/process';

/**
 * The memory budget proven where the kernel enforces it: the built CLI, through the image's entry
 * point (heap cap from MEMORY_LIMIT_MB), inside a real memory cgroup made under this test's own.
 * MEMORY_LIMIT_MB is set explicitly: a process cannot see a host-side child cgroup's limit. The
 * scale is the bench's (256 MiB, four bodies of 50,000 events) halved: 128 MiB, 25,000 events.
 */
const probe = process.platform === 'linux' ? createMemoryCgroup(`mistbridge-probe-${process.pid}`, 64) : { error: 'not Linux' };
if ('error' in probe) {
  if (process.env.CI === 'true') throw new Error(`CI=true requires a writable memory cgroup (run as root): ${probe.error}`);
  console.warn(`skipping the memory cgroup tests: ${probe.error}`);
} else void probe.remove();

const EVENTS = 25_000;
const seqsOf = (hec: FakeHec): Set<string> => new Set(hec.events().map((e) => /"bench_seq":"(\d+)"/.exec(JSON.stringify(e.event))?.[1] ?? ''));
const checkpoint = (dataDir: string): { parked?: boolean; start?: { deaths: number } } => JSON.parse(readFileSync(join(dataDir, 'raw', 'checkpoint.json'), 'utf8')) as never;

async function metric(proc: MistbridgeProcess, line: RegExp): Promise<number> {
  const text = await (await fetch(`${proc.adminUrl}/metrics`)).text();
  const match = text.split('\n').find((l) => line.test(l));
  return match ? Number(match.split(' ').pop()) : 0;
}

async function kill9(proc: MistbridgeProcess): Promise<void> {
  proc.child.kill('SIGKILL');
  await proc.exited;
}

('error' in probe ? describe.skip : describe)('the memory budget inside a real memory cgroup', () => {
  jest.setTimeout(90_000);
  let cgroup: MemoryCgroup | null = null;
  let proc: MistbridgeProcess | null = null;
  let hec: FakeHec | null = null;
  let dataDir = '';

  const start = (limitMb: number, env: Record<string, string>): Promise<MistbridgeProcess> =>
    startProcess(
      { DATA_DIR: dataDir, MIST_WEBHOOK_SECRET: SECRET, SPLUNK_HEC_URL: hec!.url, SPLUNK_HEC_TOKEN: hec!.token, SPLUNK_HEC_LINGER_MS: '20', MEMORY_LIMIT_MB: String(limitMb), ...env },
      ['run'],
      undefined,
      { entrypoint: true, wrap: cgroup!.wrap },
    );

  beforeEach(async () => {
    dataDir = mkdtempSync(join(tmpdir(), 'mistbridge-cgroup-'));
    hec = await new FakeHec().start();
  });

  afterEach(async () => {
    if (proc && proc.child.exitCode === null && proc.child.signalCode === null) await kill9(proc);
    proc = null;
    await cgroup?.remove();
    cgroup = null;
    await hec?.stop();
    rmSync(dataDir, { recursive: true, force: true });
  });

  it('dense bodies with Splunk down, then two kill -9 while the normalizer is parked: 0 OOM kills, nothing quarantined, everything accepted delivered once Splunk is back', async () => {
    cgroup = createMemoryCgroup(`mistbridge-dense-${process.pid}`, 128) as MemoryCgroup;
    hec!.down = HEC_REPLIES.busy;
    proc = await start(128, {});
    const accepted: number[] = [];
    for (let body = 0; body < 3; body++) {
      const { status } = await postWebhook(proc.url, denseBody(body * EVENTS, EVENTS));
      // a promise (200) or an honest refusal (503 + Retry-After): never a dropped connection
      expect([200, 503]).toContain(status);
      if (status === 200) accepted.push(body);
    }
    expect(accepted.length).toBeGreaterThanOrEqual(1);

    for (let kill = 0; kill < 2; kill++) {
      // the normalizer waits for room (Splunk down): the run is parked, and a death now is routine
      await eventually(() => checkpoint(dataDir).parked === true, 'normalizer parked on back-pressure', 30_000);
      await kill9(proc);
      proc = await start(128, {});
    }
    await eventually(() => checkpoint(dataDir).parked === true, 'parked again after the restarts', 30_000);
    expect(checkpoint(dataDir).start?.deaths).toBe(0);
    expect(await metric(proc, /^mistbridge_dlq_total\{.*reason="crash_loop"/)).toBe(0);

    hec!.down = null;
    const expected = accepted.flatMap((body) => Array.from({ length: EVENTS }, (_, i) => String(body * EVENTS + i)));
    await eventually(() => seqsOf(hec!).size >= expected.length, `all ${expected.length} accepted events delivered`, 60_000);
    const delivered = seqsOf(hec!);
    expect(expected.every((seq) => delivered.has(seq))).toBe(true);
    expect(cgroup.oomKills()).toBe(0);
  });

  it('a body that really kills the process (a budget set above the cgroup limit) twice is quarantined, and the process serves again', async () => {
    cgroup = createMemoryCgroup(`mistbridge-kills-${process.pid}`, 96) as MemoryCgroup;
    proc = await start(1024, {}); // the budget claims 1 GiB: nothing holds the process back
    expect((await postWebhook(proc.url, denseBody(0, 50_000))).status).toBe(200);
    await proc.exited; // the kernel kills it while it normalizes the body
    for (let attempt = 0; attempt < 4 && cgroup.oomKills() < 2; attempt++) {
      proc = await start(1024, {}).catch(() => null); // killed again during the replay
      if (proc) await Promise.race([proc.exited, new Promise((resolve) => setTimeout(resolve, 3000))]);
    }
    expect(cgroup.oomKills()).toBe(2);
    if (!proc || proc.child.exitCode !== null || proc.child.signalCode !== null) proc = await start(1024, {});
    await eventually(async () => (await metric(proc!, /^mistbridge_dlq_total\{.*reason="crash_loop"/)) === 1, 'the body quarantined as crash_loop');
    // serving again: a small webhook goes through
    expect((await postWebhook(proc.url, denseBody(90_000, 10))).status).toBe(200);
    await eventually(() => seqsOf(hec!).has('90009'), 'the next webhook delivered');
    expect(cgroup.oomKills()).toBe(2);
  });
});
