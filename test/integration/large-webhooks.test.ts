import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventually } from '../helpers/fixtures';
import { SECRET, postWebhook } from '../helpers/pipeline';
import { startProcess } from '../helpers/process';

describe('large webhooks cannot take the service down', () => {
  jest.setTimeout(120_000);

  it('four bodies of 100,000 events each, in a process with a 96 MB heap and a 16 MiB backlog bound: each is accepted or shed, none kills it, every accepted event is normalized', async () => {
    const p = await startProcess({
      NODE_OPTIONS: '--max-old-space-size=96',
      MISTBRIDGE_ROLES: 'ingress,normalizer,metrics,correlator',
      MAX_EVENTS_PER_WEBHOOK: '100000',
      INGRESS_MAX_BACKLOG_BYTES: String(16 * 1024 * 1024),
      MIST_WEBHOOK_SECRET: SECRET,
      DATA_DIR: mkdtempSync(join(tmpdir(), 'mistbridge-large-')),
    });
    try {
      const statuses: number[] = [];
      for (let n = 0; n < 4; n++) {
        // Tiny events, as in the crash-loop report: a 4.7 MB body is within MAX_BODY_BYTES.
        const events = Array.from({ length: 100_000 }, (_, i) => ({ type: 'AP_RESTARTED', ts: n * 100_000 + i }));
        statuses.push((await postWebhook(p.url, JSON.stringify({ topic: 'device-events', events }))).status);
      }
      expect(statuses.every((s) => s === 200 || s === 503)).toBe(true);
      expect(statuses[0]).toBe(200);
      const accepted = statuses.filter((s) => s === 200).length * 100_000;
      const normalized = async (): Promise<number> => {
        const text = await (await fetch(`${p.adminUrl}/metrics`)).text();
        return [...text.matchAll(/^mistbridge_events_total\{[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
      };
      await eventually(async () => (await normalized()) === accepted, `${accepted} events normalized`, 60_000);
      expect(p.child.exitCode).toBeNull();
    } finally {
      p.child.kill('SIGKILL');
      await p.exited;
    }
  });
});
