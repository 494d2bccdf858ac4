import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { sample } from '../helpers/fixtures';
import { postWebhook, startPipeline } from '../helpers/pipeline';
import { CLI } from '../helpers/process';

/** Starts `mistbridge tail` (through `script` for a real terminal); resolves once it says it is tailing. */
function startTail(args: string[], env: Record<string, string>, terminal: boolean) {
  const command = [process.execPath, CLI, 'tail', ...args];
  const child = terminal
    ? // Its own process group, so that stop() ends script and the tail under it together.
      spawn('script', ['-qfc', command.map((c) => `'${c}'`).join(' '), '/dev/null'], { env: { PATH: process.env.PATH ?? '', TERM: 'xterm', ...env }, detached: true })
    : spawn(command[0]!, command.slice(1), { env: { PATH: process.env.PATH ?? '', ...env } });
  const lines: string[] = [];
  let stderr = '';
  createInterface({ input: child.stdout! }).on('line', (line) => lines.push(line));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  let ended = false;
  void exited.then(() => (ended = true));
  const tailing = new Promise<void>((resolve, reject) => {
    const started = Date.now();
    const check = (): void => {
      // Through script, stderr and stdout share the terminal.
      if (/tailing /.test(stderr) || lines.some((l) => /tailing /.test(l))) resolve();
      else if (ended || Date.now() - started > 15_000) reject(new Error(`tail did not start: ${stderr} ${lines.join('\n')}`));
      else setTimeout(check, 20);
    };
    check();
  });
  tailing.catch(() => undefined); // awaited by the tests that expect it to start
  const stop = async (): Promise<void> => {
    if (terminal) process.kill(-child.pid!, 'SIGTERM');
    else child.kill('SIGTERM');
    await exited;
  };
  return { child, lines, tailing, exited, stop };
}

describe('mistbridge tail (CONTRACT section 1)', () => {
  jest.setTimeout(60_000);
  let pipeline: Awaited<ReturnType<typeof startPipeline>>;
  beforeAll(async () => {
    pipeline = await startPipeline({ API_TOKEN: 'ops' });
  });
  afterAll(() => pipeline.stop());
  const env = () => ({ ADMIN_PORT: String(pipeline.http.adminPort), API_TOKEN: 'ops' });
  const waitFor = async (lines: string[], pattern: RegExp): Promise<string> => {
    for (let i = 0; i < 400; i++) {
      const line = lines.find((l) => pattern.test(l));
      if (line) return line;
      await new Promise((r) => setTimeout(r, 25));
    }
    throw new Error(`no line matching ${pattern} in\n${lines.join('\n')}`);
  };

  it('shows an event posted after it started, one plain line on a pipe; --json prints the MistEvent', async () => {
    const plain = startTail([], env(), false);
    const json = startTail(['--json', '--topic', 'device_events', '--severity', 'low'], env(), false);
    await Promise.all([plain.tailing, json.tailing]);
    await postWebhook(pipeline.url, sample('alarms__switch-down-alarmdef.json'));
    await postWebhook(pipeline.url, sample('device-events__ap-restart-sequence-real.json'));
    const line = await waitFor(plain.lines, /switch_down/);
    expect(line).toBe('2021-08-25T19:12:59.000Z  alarms  switch_down  medium  819b44b2-42ef-459d-8e59-29c5577b2330  switch_vc  Switch offline: switch_vc (f4bfa806c96c) at 819b44b2-42ef-459d-8e59-29c5577b2330');
    expect(line).not.toContain('\x1b[');
    const event = JSON.parse(await waitFor(json.lines, /AP_RESTARTED/)) as { type: string; event_id: string };
    expect(event.type).toBe('AP_RESTARTED');
    // The topic filter (either spelling): no alarms.
    expect(json.lines.map((l) => (JSON.parse(l) as { topic: string }).topic).every((t) => t === 'device-events')).toBe(true);
    await Promise.all([plain.stop(), json.stop()]);
    expect(await plain.exited).toBe(0);
  });

  it('colours severities on a terminal, not with NO_COLOR; adds incident transitions with --incidents', async () => {
    const coloured = startTail(['--incidents'], env(), true);
    const uncoloured = startTail([], { ...env(), NO_COLOR: '1' }, true);
    await Promise.all([coloured.tailing, uncoloured.tailing]);
    await postWebhook(pipeline.url, sample('alarms__device-down-alarmdef.json'));
    expect(await waitFor(coloured.lines, /device_down/)).toContain('\x1b[33mmedium\x1b[0m');
    expect(await waitFor(coloured.lines, /incident opened {2}device/)).toMatch(/d420b02000fa/);
    expect(await waitFor(uncoloured.lines, /device_down/)).not.toContain('\x1b[');
    await Promise.all([coloured.stop(), uncoloured.stop()]);
  });

  it('exits 1 when it cannot connect, and with a wrong API token', async () => {
    const nowhere = startTail(['--url', 'http://127.0.0.1:9'], {}, false);
    expect(await nowhere.exited).toBe(1);
    const refused = startTail([], { ...env(), API_TOKEN: 'wrong' }, false);
    expect(await refused.exited).toBe(1);
  });
});

describe('/api/tail?raw=true: the Mist event as received beside the normalized one (the console)', () => {
  /** The frames of a tail stream until `until` says stop (or 10 s). */
  async function frames(adminUrl: string, post: () => Promise<unknown>, until: (names: string[]) => boolean): Promise<Array<{ name: string; data: Record<string, unknown> }>> {
    const controller = new AbortController();
    const response = await fetch(`${adminUrl}/api/tail?raw=true`, { signal: controller.signal });
    const reader = response.body!.pipeThrough(new TextDecoderStream()).getReader();
    const out: Array<{ name: string; data: Record<string, unknown> }> = [];
    let buffer = '';
    await reader.read(); // ": tailing"
    await post();
    const deadline = Date.now() + 10_000;
    while (!until(out.map((f) => f.name)) && Date.now() < deadline) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      for (let end = buffer.indexOf('\n\n'); end >= 0; end = buffer.indexOf('\n\n')) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const name = /^event: (.+)$/m.exec(frame)?.[1];
        const data = /^data: (.+)$/m.exec(frame)?.[1];
        if (name && data) out.push({ name, data: JSON.parse(data) as Record<string, unknown> });
      }
    }
    controller.abort();
    return out;
  }

  it('with PRIVACY_MODE=off, each event is followed by its raw Mist event; with privacy on, never (the raw body holds what privacy hides)', async () => {
    const open = await startPipeline({ MISTBRIDGE_ROLES: 'ingress,normalizer' });
    try {
      const got = await frames(open.adminUrl, () => postWebhook(open.url, sample('alarms__switch-down-alarmdef.json')), (names) => names.includes('raw'));
      expect(got.map((f) => f.name)).toEqual(['event', 'raw']);
      expect(got[1]!.data).toMatchObject({ event_id: got[0]!.data.event_id, raw: expect.objectContaining({ type: 'switch_down' }) });
    } finally {
      await open.stop();
    }
    const hidden = await startPipeline({ MISTBRIDGE_ROLES: 'ingress,normalizer', PRIVACY_MODE: 'redact' });
    try {
      const got = await frames(hidden.adminUrl, async () => {
        await postWebhook(hidden.url, sample('alarms__switch-down-alarmdef.json'));
        await postWebhook(hidden.url, sample('alarms__device-down-alarmdef.json'));
      }, (names) => names.filter((n) => n === 'event').length === 2);
      expect(got.map((f) => f.name)).toEqual(['event', 'event']); // the second event came after any raw of the first would have
    } finally {
      await hidden.stop();
    }
  });
});
