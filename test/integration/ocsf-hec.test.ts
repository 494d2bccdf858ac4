import { FakeHec } from '../helpers/fake-hec';
import { eventually, sample } from '../helpers/fixtures';
import { postWebhook, startPipeline } from '../helpers/pipeline';

describe('SPLUNK_HEC_FORMAT=both over real HEC exchanges', () => {
  it('the HEC stand-in receives both shapes for a mapped topic, CIM alone for the others', async () => {
    const hec = await new FakeHec().start();
    const pipeline = await startPipeline({ SPLUNK_HEC_URL: hec.url, SPLUNK_HEC_TOKEN: hec.token, SPLUNK_HEC_LINGER_MS: '5', SPLUNK_HEC_FORMAT: 'both', MISTBRIDGE_ROLES: 'ingress,normalizer,splunk' });
    try {
      await postWebhook(pipeline.url, sample('alarms__device-down-alarmdef.json'));
      await postWebhook(pipeline.url, sample('device-events__ap-restart-sequence-real.json'));
      await eventually(() => hec.events().length === 1 + 1 + 3, 'one alarm in two shapes, three device events in one');
      const bySourcetype = hec.events().map((e) => e.sourcetype).sort();
      expect(bySourcetype).toEqual(['juniper:mist:alarms', 'juniper:mist:device-events', 'juniper:mist:device-events', 'juniper:mist:device-events', 'juniper:mist:ocsf']);
      const ocsf = hec.events().find((e) => e.sourcetype === 'juniper:mist:ocsf')!;
      expect(ocsf.fields.mb_class_uid).toBe('2004');
      expect(ocsf.event).toMatchObject({ class_uid: 2004, metadata: { product: { name: 'mistbridge' } } });
    } finally {
      await pipeline.stop();
      await hec.stop();
    }
  });
});
