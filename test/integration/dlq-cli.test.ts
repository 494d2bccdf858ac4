import { spawnSync } from 'node:child_process';
import { appendFileSync, existsSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { deadLetter } from '../../src/dlq/dead-letter';
import { eventIdsOf } from '../helpers/events';
import { FakeHec, HEC_REPLIES } from '../helpers/fake-hec';
import { eventually, sample } from '../helpers/fixtures';
import { SECRET, postWebhook } from '../helpers/pipeline';
import { CLI, startProcess, type MistbridgeProcess } from '../helpers/process';

/** Runs `mistbridge dlq …` as an operator would, next to (or without) the running process. */
function dlq(args: string[], env: Record<string, string>): { status: number | null; stdout: string; stderr: string } {
  const result = spawnSync(process.execPath, [CLI, 'dlq', ...args], { env: { PATH: process.env.PATH ?? '', ...env }, encoding: 'utf8', timeout: 30_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

describe('mistbridge dlq on the embedded bus (CONTRACT sections 1 and 4)', () => {
  jest.setTimeout(60_000);
  let hec: FakeHec;
  let running: MistbridgeProcess | null = null;
  beforeEach(async () => {
    hec = await new FakeHec().start();
  });
  afterEach(async () => {
    running?.child.kill('SIGKILL');
    running = null;
    await hec.stop();
  });

  it('lists without a running process, redrives through it once the cause is fixed (delivered once), hides redriven letters, purges', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mistbridge-dlq-'));
    const env = { DATA_DIR: dataDir, MIST_WEBHOOK_SECRET: SECRET, SPLUNK_HEC_URL: hec.url, SPLUNK_HEC_TOKEN: hec.token, SPLUNK_HEC_LINGER_MS: '10', API_TOKEN: 'ops-token' };
    // Splunk refuses the event (a wrong index, say): it is dead-lettered by the splunk stage.
    hec.script.push(HEC_REPLIES.incorrectIndex(0));
    running = await startProcess(env);
    const body = sample('alarms__switch-down-alarmdef.json');
    const [eventId] = eventIdsOf([body]);
    expect((await postWebhook(running.url, body)).status).toBe(200);
    await eventually(() => existsSync(join(dataDir, 'dlq.ndjson')) && readFileSync(join(dataDir, 'dlq.ndjson'), 'utf8').includes('hec_rejected'), 'the letter written');
    await eventually(() => hec.incidents().length > 0, 'the incident write delivered');
    running.child.kill('SIGTERM');
    await running.exited;
    running = null;

    // No process runs: list and show read the file.
    const listed = dlq(['list'], env);
    expect(listed.status).toBe(0);
    const [line] = listed.stdout.trim().split('\n');
    const id = line!.split('  ')[0]!;
    expect(line).toMatch(new RegExp(`^${id}  \\d{4}-\\d\\d-\\d\\dT.*  splunk  hec_rejected  mist\\.events/0@\\d+  -  HEC code 7: Incorrect index`));
    const shown = JSON.parse(dlq(['show', id], env).stdout) as { value: unknown; id: string };
    expect(shown.id).toBe(id);
    expect(dlq(['list', '--json', '--stage', 'normalizer'], env).stdout).toBe('');
    // A redrive needs the running process.
    const alone = dlq(['redrive', id], env);
    expect(alone.status).toBe(1);
    expect(alone.stderr).toMatch(/no mistbridge process answers/);

    running = await startProcess(env);
    const before = hec.events().filter((e) => e.event.event_id === eventId).length;
    expect(before).toBe(0);
    const redriven = dlq(['redrive', id], { ...env, ADMIN_PORT: String(running.adminPort) });
    expect(redriven).toMatchObject({ status: 0, stdout: `redriven ${id}\n` });
    await eventually(() => hec.events().some((e) => e.event.event_id === eventId), 'the redriven event delivered');
    await eventually(async () => /mistbridge_dlq_redriven_total\{stage="splunk"\} 1/.test(await (await fetch(`${running!.adminUrl}/metrics`)).text()), 'redrive counted');
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Once: only the splunk stage took it (the correlator and the metrics role passed it over).
    expect(hec.events().filter((e) => e.event.event_id === eventId)).toHaveLength(1);
    // The metrics role of this run passed it over: it had counted the event when it first came.
    const metrics = await (await fetch(`${running.adminUrl}/metrics`)).text();
    expect(metrics).not.toMatch(/mistbridge_events_total\{[^}]*type="switch_down"/);

    expect(dlq(['list'], env).stdout).toBe('no dead letters match\n');
    expect(dlq(['list', '--all'], env).stdout).toMatch(new RegExp(`^${id} .* redriven `));
    expect(dlq(['redrive', '--stage', 'splunk', '--dry-run'], { ...env, ADMIN_PORT: String(running.adminPort) }).stdout).toBe('no dead letters match\n');
    // Without the API token the process refuses.
    const refused = dlq(['redrive', id], { ...env, ADMIN_PORT: String(running.adminPort), API_TOKEN: 'wrong' });
    expect(refused.status).toBe(1);
    // one line saying what to do, never a stack trace
    expect(refused.stderr).toMatch(/^http:\/\/127\.0\.0\.1:\d+ refused the request: set API_TOKEN as the running process has it\n$/);

    const purged = dlq(['purge', '--before', new Date(Date.now() + 1000).toISOString()], { ...env, ADMIN_PORT: String(running.adminPort) });
    expect(purged).toMatchObject({ status: 0, stdout: expect.stringMatching(/^purged 2 dead letters and markers/) });
    expect(readFileSync(join(dataDir, 'dlq.ndjson'), 'utf8')).toBe('');
  });

  it('a redriven letter that fails again is a new letter naming the first; a truncated letter is not redriven', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mistbridge-dlq-'));
    const env = { DATA_DIR: dataDir, MIST_WEBHOOK_SECRET: SECRET, MISTBRIDGE_ROLES: 'ingress,normalizer' };
    running = await startProcess(env);
    expect((await postWebhook(running.url, JSON.stringify({ topic: 'device-events', events: [42] }))).status).toBe(200);
    await eventually(() => dlq(['list'], env).stdout.includes('event_not_object'), 'the letter listed');
    // A letter too large for the DLQ, cut to fit.
    const truncated = deadLetter('splunk', 'hec_rejected', 'x', { topic: 'mist.events', partition: 0, offset: '9', key: 'k', value: Buffer.alloc(64), headers: {} }, { now: Date.now(), maxValueBytes: 8 });
    appendFileSync(join(dataDir, 'dlq.ndjson'), `${truncated.value!.toString()}\n`);

    const first = dlq(['list', '--json', '--stage', 'normalizer'], env).stdout.trim();
    const letter = JSON.parse(first) as { id: string; reason: string; error: string };
    const admin = { ...env, ADMIN_PORT: String(running.adminPort) };
    expect(dlq(['redrive', letter.id], admin).status).toBe(0);
    await eventually(() => dlq(['list', '--stage', 'normalizer'], env).stdout.split('\n').filter(Boolean).length === 1 && !dlq(['list'], env).stdout.includes(letter.id), 'the second letter');
    const again = JSON.parse(dlq(['list', '--json', '--stage', 'normalizer'], env).stdout.trim()) as { id: string; previous: unknown };
    expect(again.id).not.toBe(letter.id);
    expect(again.previous).toEqual([{ id: letter.id, reason: 'event_not_object', error: letter.error }]);

    const refused = dlq(['redrive', '--stage', 'splunk'], admin);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/was truncated to fit the DLQ/);
  });
});
