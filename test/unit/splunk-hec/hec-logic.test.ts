import { gunzipSync } from 'node:zlib';
import { eventEnvelope } from '../../../src/sinks/splunk-hec/encoder';
import { planRequests, requestBody } from '../../../src/sinks/splunk-hec/request';
import { classifyHecResponse, retryAfter } from '../../../src/sinks/splunk-hec/response';
import { normalizeWebhook } from '../../../src/normalizer/normalize';
import { sample } from '../../helpers/fixtures';

describe('classifyHecResponse (splunk-hec.md section 5)', () => {
  const hec = (code: number, text: string, extra: object = {}): string => JSON.stringify({ text, code, ...extra });

  it.each([
    [200, hec(0, 'Success'), { kind: 'ok', ackId: null }],
    [200, hec(0, 'Success', { ackId: 7 }), { kind: 'ok', ackId: 7 }],
    [200, hec(24, 'HEC queue is approaching its capacity limit'), { kind: 'ok', ackId: null }],
    [503, hec(9, 'Server is busy'), { kind: 'retry' }],
    [500, hec(8, 'Internal server error'), { kind: 'retry' }],
    [429, hec(26, 'HEC queue is at capacity'), { kind: 'retry' }],
    [408, '', { kind: 'retry' }],
    [502, '<html>Bad gateway</html>', { kind: 'unknown', status: 502 }],
    [503, '', { kind: 'unknown', status: 503 }],
    [403, hec(4, 'Invalid token'), { kind: 'pause', code: 4 }],
    [403, hec(1, 'Token disabled'), { kind: 'pause', code: 1 }],
    [401, hec(2, 'Token is required'), { kind: 'pause', code: 2 }],
    [400, hec(10, 'Data channel is missing'), { kind: 'pause', code: 10 }],
    [400, hec(14, 'ACK is disabled'), { kind: 'pause', code: 14 }],
    [413, '', { kind: 'too_large' }],
    [400, hec(6, 'Invalid data format', { 'invalid-event-number': 3 }), { kind: 'partial', index: 3, processedBefore: true, code: 6 }],
    [400, hec(7, 'Incorrect index', { 'invalid-event-number': 0 }), { kind: 'partial', index: 0, processedBefore: false, code: 7 }],
    [400, hec(5, 'No data'), { kind: 'reject', code: 5 }],
    [400, hec(15, 'Error in handling indexed fields'), { kind: 'reject', code: 15 }],
    [404, '<html>not found</html>', { kind: 'unknown', status: 404 }],
  ])('HTTP %i %s', (status, body, expected) => {
    expect(classifyHecResponse(status, {}, body)).toMatchObject(expected);
  });

  it('honours Retry-After in seconds and as a date', () => {
    expect(classifyHecResponse(429, { 'retry-after': '7' }, '')).toMatchObject({ kind: 'retry', retryAfterMs: 7000 });
    expect(retryAfter('Wed, 21 Oct 2015 07:28:10 GMT', Date.UTC(2015, 9, 21, 7, 28, 0))).toBe(10000);
    expect(retryAfter('soon')).toBeNull();
  });
});

describe('planRequests', () => {
  it('caps events per request', () => {
    expect(planRequests([10, 10, 10, 10, 10], 2, 1000)).toEqual([[0, 1], [2, 3], [4]]);
  });
  it('caps bytes per request (separator included) and sends an oversized envelope alone', () => {
    expect(planRequests([40, 40, 40, 200, 10], 100, 100)).toEqual([[0, 1], [2], [3], [4]]);
  });
});

describe('HEC envelope (CONTRACT section 5)', () => {
  const result = normalizeWebhook(sample('alarms__marvis-ap-bad-cable-resolved-real-2025.json'), 1750000000000, { map: {}, overrides: {} });
  const event = 'results' in result && result.results[0]!.ok ? result.results[0]!.event : null;

  it('carries seconds with a ms fraction, the device as host and the indexed fields', () => {
    const envelope = JSON.parse(eventEnvelope(event!, { defaultIndex: null, routes: {} }));
    expect(envelope.time).toBe(1749826902.034);
    expect(envelope.host).toBe('Switch Name');
    expect(envelope.source).toBe('mistbridge');
    expect(envelope.sourcetype).toBe('juniper:mist:alarms');
    expect(envelope).not.toHaveProperty('index');
    expect(envelope.event.event_id).toBe(event!.event_id);
    expect(envelope.event.mist_severity).toBe('critical');
    // Indexed fields never repeat a name of the JSON event (CONTRACT section 5): mb_* names.
    expect(envelope.fields).toEqual({
      mb_topic: 'alarms',
      mb_severity: 'critical',
      mb_org_id: 'xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx',
      mb_site_id: 'xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx',
    });
    for (const name of Object.keys(envelope.fields)) expect(envelope.event).not.toHaveProperty(name);
  });

  it('uses the topic route for index and sourcetype, else SPLUNK_HEC_INDEX', () => {
    expect(JSON.parse(eventEnvelope(event!, { defaultIndex: 'mist', routes: {} })).index).toBe('mist');
    const routed = JSON.parse(eventEnvelope(event!, { defaultIndex: 'mist', routes: { alarms: { index: 'netops', sourcetype: 'mist:alarm' } } }));
    expect(routed).toMatchObject({ index: 'netops', sourcetype: 'mist:alarm' });
  });

  it('builds gzip bodies of back-to-back envelopes', () => {
    const body = requestBody(['{"event":1}', '{"event":2}'], true);
    expect(gunzipSync(body).toString()).toBe('{"event":1}\n{"event":2}');
  });
});
