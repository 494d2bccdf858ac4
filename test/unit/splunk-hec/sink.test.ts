import { gunzipSync } from 'node:zlib';
import type { SplunkConfig } from '../../../src/config/config';
import { silentLogger } from '../../../src/shared/logger';
import { createMetrics } from '../../../src/shared/metrics';
import type { HecReply, HecTransport } from '../../../src/sinks/splunk-hec/client';
import { HecSink } from '../../../src/sinks/splunk-hec/sink';

const config: SplunkConfig = {
  url: 'http://hec.invalid',
  token: 't',
  index: null,
  ack: false,
  format: 'cim',
  tlsVerify: true,
  caFile: null,
  batchMaxEvents: 100,
  batchMaxBytes: 1_000_000,
  lingerMs: 0,
  gzip: true,
  timeoutMs: 1000,
  ackPollMs: 1000,
  ackTimeoutMs: 300_000,
  retryMaxMs: 30_000,
  proxyRetryMs: 600_000,
};

const hec = (status: number, code: number, text: string, extra: object = {}, headers: Record<string, string> = {}): HecReply => ({
  status,
  headers,
  body: JSON.stringify({ text, code, ...extra }),
});
const OK = hec(200, 0, 'Success');

/**
 * A scripted HEC: each request gets the next scripted reply (then 200), and the events of every
 * request are recorded. Time is fake: the sink's waits move the clock, nothing sleeps.
 */
function scripted(replies: Array<HecReply | ((events: string[]) => HecReply)>) {
  let now = 0;
  const requests: Array<{ path: string; events: string[] }> = [];
  const transport: HecTransport = {
    async post(path, body) {
      const text = path.startsWith('/services/collector/ack') ? body.toString() : gunzipSync(body).toString();
      const events = path.startsWith('/services/collector/ack') ? [] : text.split('\n').map((e) => (JSON.parse(e) as { event: string }).event);
      requests.push({ path, events });
      const next = replies.shift() ?? OK;
      return typeof next === 'function' ? next(events) : next;
    },
  };
  const metrics = createMetrics(['splunk']).hec!;
  const timing = {
    now: () => now,
    sleep: async (ms: number) => {
      now += ms;
    },
  };
  const sink = (overrides: Partial<SplunkConfig> = {}) => new HecSink({ ...config, ...overrides }, transport, metrics, silentLogger(), timing);
  return { sink, requests, metrics, elapsed: () => now };
}

const envelopes = (n: number): string[] => Array.from({ length: n }, (_, i) => JSON.stringify({ event: `e${i}` }));
const signal = new AbortController().signal;
const count = async (metrics: ReturnType<typeof scripted>['metrics'], outcome: string): Promise<number> =>
  (await metrics.events.get()).values.find((v) => v.labels.outcome === outcome)?.value ?? 0;

describe('HecSink: the delivery state machine', () => {
  it('splits a request HEC refuses as too large (413) until each part fits; a single event that is still too large is refused', async () => {
    const { sink, requests } = scripted([{ status: 413, headers: {}, body: '' }, { status: 413, headers: {}, body: '' }, (events) => (events.length === 1 ? { status: 413, headers: {}, body: '' } : OK)]);
    const rejected = await sink().deliver(envelopes(4), signal);
    expect(requests.map((r) => r.events)).toEqual([['e0', 'e1', 'e2', 'e3'], ['e0', 'e1'], ['e0'], ['e1'], ['e2', 'e3']]);
    expect(rejected).toEqual([{ index: 0, reason: 'hec_too_large', error: expect.stringContaining('413') }]);
  });

  it('retries proxy answers (no HEC body) for SPLUNK_HEC_PROXY_RETRY_S, then dead-letters them proxy_error', async () => {
    const proxy: HecReply = { status: 502, headers: {}, body: '<html>Bad gateway</html>' };
    const { sink, requests, elapsed } = scripted(Array.from({ length: 1000 }, () => proxy));
    const rejected = await sink({ proxyRetryMs: 120_000 }).deliver(envelopes(2), signal);
    expect(rejected.map((r) => r.reason)).toEqual(['proxy_error', 'proxy_error']);
    expect(rejected[0]!.error).toMatch(/HTTP 502 without a HEC body/);
    expect(elapsed()).toBeGreaterThanOrEqual(120_000);
    expect(elapsed()).toBeLessThan(120_000 + 30_000);
    expect(requests.length).toBeGreaterThan(5); // it used to give up after five tries, in seconds
  });

  it("keeps retrying HEC's own 503 without limit, every wait (a 30-day Retry-After too) capped at SPLUNK_HEC_RETRY_MAX_MS", async () => {
    const busy = hec(503, 9, 'Server is busy', {}, { 'retry-after': String(30 * 86400) });
    const { sink, requests, elapsed, metrics } = scripted(Array.from({ length: 100 }, () => busy));
    expect(await sink().deliver(envelopes(1), signal)).toEqual([]);
    expect(requests).toHaveLength(101);
    expect(elapsed()).toBe(100 * 30_000);
    expect(await count(metrics, 'retried')).toBe(100);
    expect(await count(metrics, 'delivered')).toBe(1);
  });

  it('resends what is left after invalid-event-number when HEC did not say the events before it were indexed', async () => {
    const { sink, requests } = scripted([hec(400, 7, 'Incorrect index', { 'invalid-event-number': 2 })]);
    const rejected = await sink().deliver(envelopes(4), signal);
    expect(rejected).toEqual([{ index: 2, reason: 'hec_rejected', error: 'HEC code 7: Incorrect index' }]);
    expect(requests.map((r) => r.events)).toEqual([['e0', 'e1', 'e2', 'e3'], ['e0', 'e1', 'e3']]);
  });

  it('sends only what follows the bad event when HEC indexed those before it (code 6)', async () => {
    const { sink, requests } = scripted([hec(400, 6, 'Invalid data format', { 'invalid-event-number': 1 })]);
    await sink().deliver(envelopes(3), signal);
    expect(requests.map((r) => r.events)).toEqual([['e0', 'e1', 'e2'], ['e2']]);
  });

  it('with indexer acknowledgement, sends a request again when Splunk never confirms it', async () => {
    const { sink, requests } = scripted([
      hec(200, 0, 'Success', { ackId: 1 }),
      ...Array.from({ length: 5 }, () => ({ status: 200, headers: {}, body: JSON.stringify({ acks: { 1: false } }) })),
      hec(200, 0, 'Success', { ackId: 2 }),
      { status: 200, headers: {}, body: JSON.stringify({ acks: { 2: true } }) },
    ]);
    await sink({ ack: true, ackPollMs: 1000, ackTimeoutMs: 5000 }).deliver(envelopes(1), signal);
    const sends = requests.filter((r) => !r.path.startsWith('/services/collector/ack'));
    expect(sends.map((r) => r.events)).toEqual([['e0'], ['e0']]);
  });

  it('counts what an ack poll that fails asks about as retried (a 503 from the ack endpoint is not silence)', async () => {
    const { sink, metrics } = scripted([
      hec(200, 0, 'Success', { ackId: 7 }),
      hec(503, 9, 'Server is busy'),
      hec(503, 9, 'Server is busy'),
      { status: 200, headers: {}, body: JSON.stringify({ acks: { 7: true } }) },
    ]);
    await sink({ ack: true }).deliver(envelopes(3), signal);
    const outcomes = Object.fromEntries((await metrics.events.get()).values.map((v) => [v.labels.outcome, v.value]));
    expect(outcomes).toMatchObject({ retried: 6, delivered: 3 });
  });

  it('pauses on a refused token and resumes, keeping every event', async () => {
    let pausedMeanwhile: unknown = null;
    const { sink, metrics, elapsed } = scripted([
      hec(403, 4, 'Invalid token'),
      () => {
        pausedMeanwhile = s.status();
        return hec(403, 4, 'Invalid token');
      },
    ]);
    const s = sink();
    expect(await s.deliver(envelopes(2), signal)).toEqual([]);
    expect(pausedMeanwhile).toMatchObject({ paused: true, reason: 'HEC code 4: Invalid token' });
    expect(elapsed()).toBe(2 * 30_000); // a paused sink tries again every SPLUNK_HEC_RETRY_MAX_MS
    expect(s.status().paused).toBe(false);
    expect((await metrics.paused.get()).values[0]!.value).toBe(0);
    expect(await count(metrics, 'delivered')).toBe(2);
  });
});
