import { cpSync, mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { eventIdsOf } from '../helpers/events';
import { FakeHec } from '../helpers/fake-hec';
import { eventually } from '../helpers/fixtures';
import { startPipeline } from '../helpers/pipeline';

const FIXTURE = join(__dirname, '..', 'fixtures', 'datadir-0.1');
const bodies = (JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'datadir-0.1-bodies.json'), 'utf8')) as string[]).map((b) => Buffer.from(b, 'base64'));

describe('upgrading 0.1 → 0.2 loses nothing (a DATA_DIR written by 0.1)', () => {
  it('delivers the unfinished webhooks, keeps the open incidents and the dead letters', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mistbridge-upgrade-'));
    cpSync(FIXTURE, dataDir, { recursive: true });
    const hec = await new FakeHec().start();
    const pipeline = await startPipeline({ DATA_DIR: dataDir, SPLUNK_HEC_URL: hec.url, SPLUNK_HEC_TOKEN: hec.token, SPLUNK_HEC_LINGER_MS: '10', MIST_WEBHOOK_SECRET: 'upgrade-secret' });
    try {
      // 0.1 checkpointed webhooks 0–2; 3–7 were journaled but never reached Splunk. Their events
      // come out with 0.2 event_ids (the recipe changed; README migration note).
      const unfinished = eventIdsOf(bodies.slice(3));
      expect(unfinished.length).toBeGreaterThan(5);
      await eventually(() => hec.hasAll(unfinished), 'every event of the unfinished webhooks at HEC');

      const incidents = (await (await fetch(`${pipeline.adminUrl}/api/incidents`)).json()) as Array<{ kind: string; state: string; resolve_reason: string | null }>;
      expect(incidents.map((i) => `${i.kind} ${i.state}`).sort()).toEqual(['device open', 'device open', 'marvis open', 'security resolved']);
      // The sample's security alarm is years old: its quiet window passed while 0.1 was "down".
      expect(incidents.find((i) => i.kind === 'security')!.resolve_reason).toBe('quiet_window');
      // The incident write 0.1's Splunk group had not delivered reaches Splunk now.
      await eventually(() => hec.incidents().some((e) => e.event.kind === 'security'), 'the undelivered security incident at HEC');

      // 0.1's dead letters stay where they were; new ones follow in the 0.2 record.
      const letters = readFileSync(join(dataDir, 'dlq.ndjson'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
      expect(letters.slice(0, 2)).toEqual([
        expect.objectContaining({ stage: 'normalizer', reason: 'event_not_object', offset: '6' }),
        expect.objectContaining({ stage: 'normalizer', reason: 'event_not_object', offset: '6' }),
      ]);
      expect(letters.slice(2).every((l) => typeof l.id === 'string' && typeof l.dead_lettered_at === 'number')).toBe(true);
    } finally {
      await pipeline.stop();
      await hec.stop();
    }
    const checkpoint = JSON.parse(readFileSync(join(dataDir, 'raw', 'checkpoint.json'), 'utf8')) as { format: number; offset: number; clean: boolean };
    expect(checkpoint).toMatchObject({ format: 2, offset: 8, clean: true });
    expect(JSON.parse(readFileSync(join(dataDir, 'topics', 'mist.incidents.log'), 'utf8').split('\n')[0]!)).toMatchObject({ format: 2 });
  });
});
