import { spawnSync } from 'node:child_process';
import { FakeHec } from '../helpers/fake-hec';
import { eventually, sample, sampleFiles } from '../helpers/fixtures';
import { postWebhook, startPipeline } from '../helpers/pipeline';
import { systemTool } from '../helpers/system-tool';

const promtool = systemTool('promtool', 'prometheus');
const maybe = promtool.path ? describe : describe.skip;
if (promtool.skipReason) console.warn(`skipping promtool tests: ${promtool.skipReason}`);

/** Only the mistbridge_* families: those are ours to keep clean (CONTRACT section 7). */
function ownFamilies(exposition: string): string {
  return exposition
    .split('\n')
    .filter((line) => /^(# (HELP|TYPE) )?mistbridge_/.test(line))
    .join('\n')
    .concat('\n');
}

maybe('Prometheus exposition passes promtool check metrics', () => {
  it('has no findings for any mistbridge_* family, every role running and labels populated', async () => {
    const hec = await new FakeHec().start();
    const pipeline = await startPipeline({ SPLUNK_HEC_URL: hec.url, SPLUNK_HEC_TOKEN: hec.token, SPLUNK_HEC_LINGER_MS: '10' });
    try {
      for (const file of sampleFiles()) await postWebhook(pipeline.url, sample(file));
      await postWebhook(pipeline.url, '{not json');
      await eventually(() => hec.indexed.length > 50, 'events delivered');
      const exposition = await (await fetch(`${pipeline.adminUrl}/metrics`)).text();
      const families = ownFamilies(exposition);
      for (const name of [
        'mistbridge_webhooks_total',
        'mistbridge_events_total',
        'mistbridge_event_delay_seconds',
        'mistbridge_hec_events_total',
        'mistbridge_hec_request_duration_seconds',
        'mistbridge_consumer_lag',
        'mistbridge_dlq_total',
        'mistbridge_events_duplicate_total',
      ]) {
        expect(families).toContain(`# TYPE ${name} `);
      }
      const result = spawnSync(promtool.path!, ['check', 'metrics'], { input: families, encoding: 'utf8' });
      expect({ status: result.status, findings: `${result.stdout}${result.stderr}`.trim() }).toEqual({ status: 0, findings: '' });
    } finally {
      await pipeline.stop();
      await hec.stop();
    }
  });
});
