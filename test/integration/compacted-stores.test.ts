import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CompactedStore } from '../../src/bus/embedded/compacted-store';
import { SCHEMA_HEADER } from '../../src/shared/avro';
import { eventually, sample } from '../helpers/fixtures';
import { nextIncidentSchema, sampleIncident } from '../helpers/schemas';
import { SECRET, metricSum, postWebhook, startPipeline } from '../helpers/pipeline';
import { startProcess } from '../helpers/process';

/** The embedded bus' compacted stores across a restart: large ones, and records of another version. */
describe('compacted stores at start-up (embedded)', () => {
  jest.setTimeout(60_000);

  it('150,000 back-fill marks and a 256 MiB budget: every webhook is still accepted (the stores are not webhook backlog)', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'mistbridge-stores-'));
    const store = new CompactedStore(join(dataDir, 'topics'), 'mist.backfill');
    store.load();
    await store.append(Array.from({ length: 150_000 }, (_, i) => ({ key: `seen:${String(i).padStart(32, '0')}`, headers: {}, value: Buffer.from(`{"at":${1_700_000_000_000 + i}}`) })));
    // A wrong Mist API token too: the companion fails its passes for ever, and must hold nothing
    // back. The built CLI in its own process: its memory is what the budget measures.
    // Through the image's entry point, as `npm start` and the container run it: the heap cap from the budget.
    const p = await startProcess({ DATA_DIR: dataDir, MIST_WEBHOOK_SECRET: SECRET, MEMORY_LIMIT_MB: '256', MIST_API_TOKEN: 'wrong', MIST_API_HOST: 'http://127.0.0.1:9', MIST_ORG_ID: 'o' }, ['run'], undefined, { entrypoint: true });
    try {
      for (let i = 0; i < 15; i++) expect(await postWebhook(p.url, sample('alarms__switch-down-alarmdef.json'))).toMatchObject({ status: 200, body: { accepted: 1 } });
    } finally {
      p.child.kill('SIGTERM');
      await p.exited;
    }
  });

  it('an incident written by a later version: the process starts and letters it without that schema, and reads it with SCHEMA_HISTORY_DIR (a rollback)', async () => {
    const next = nextIncidentSchema();
    const dataDir = mkdtempSync(join(tmpdir(), 'mistbridge-stores-'));
    const store = new CompactedStore(join(dataDir, 'topics'), 'mist.incidents');
    store.load();
    const record = { ...sampleIncident(), key: 'device:09dac91f-6e73-4100-89f7-698e0fafbb1b:d420b02000fa', next_field: 'later' };
    await store.append([{ key: String(record.key), headers: { [SCHEMA_HEADER]: next.fingerprint }, value: next.type.toBuffer(record) }]);

    const without = await startPipeline({ DATA_DIR: dataDir });
    try {
      expect((await fetch(`${without.adminUrl}/readyz`)).status).toBe(200);
      await eventually(async () => (await metricSum(without, 'mistbridge_dlq_total', { reason: 'schema_mismatch' })) >= 1, 'the unknown record dead-lettered when consumed');
      expect(await (await fetch(`${without.adminUrl}/api/incidents`)).json()).toEqual([]);
    } finally {
      await without.stop();
    }

    const withHistory = await startPipeline({ DATA_DIR: dataDir, SCHEMA_HISTORY_DIR: next.dir });
    try {
      // The correlator's rebuild takes it (its device is down), and the API shows it.
      const incidents = (await (await fetch(`${withHistory.adminUrl}/api/incidents`)).json()) as Array<Record<string, unknown>>;
      expect(incidents).toEqual([expect.objectContaining({ incident_id: 'i1', state: 'open' })]);
      expect(await metricSum(withHistory, 'mistbridge_incidents_open', { kind: 'device' })).toBe(1);
    } finally {
      await withHistory.stop();
    }
  });
});
