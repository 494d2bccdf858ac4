import request from 'supertest';
import { sign } from '../../src/ingress/verify';
import { SECRET, metricSum, startPipeline } from '../helpers/pipeline';
import { Journal } from '../../src/bus/embedded/journal';
import { FakeHec, HEC_REPLIES } from '../helpers/fake-hec';
import { sample } from '../helpers/fixtures';

type Pipeline = Awaited<ReturnType<typeof startPipeline>>;

const body = sample('alarms__device-restarted-alarmdef.json');
const signed = (payload: Buffer | string, secret = SECRET) => ({ 'content-type': 'application/json', 'x-mist-signature-v2': sign(payload, secret) });

const webhookCount = (pipeline: Pipeline, outcome: string): Promise<number> => metricSum(pipeline, 'mistbridge_webhooks_total', { outcome });

describe('POST /webhooks/mist (CONTRACT section 3)', () => {
  let pipeline: Pipeline;
  beforeAll(async () => {
    pipeline = await startPipeline({ MAX_BODY_BYTES: '4096', MAX_EVENTS_PER_WEBHOOK: '3', MISTBRIDGE_ROLES: 'ingress,normalizer,metrics' });
  });
  afterAll(() => pipeline.stop());

  it('200 {"accepted": N} for a signed body', async () => {
    const res = await request(pipeline.url).post('/webhooks/mist').set(signed(body)).send(body.toString());
    expect(res.status).toBe(200);
    expect(res.body).toEqual({ accepted: 1 });
    expect(await webhookCount(pipeline, 'accepted')).toBeGreaterThan(0);
  });

  it('counts N as the number of events in the body', async () => {
    const three = sample('device-events__ap-restart-sequence-real.json');
    const res = await request(pipeline.url).post('/webhooks/mist').set(signed(three)).send(three.toString());
    expect(res.body).toEqual({ accepted: 3 });
  });

  it('accepts the SHA-1 header alone and header names in any case', async () => {
    const v1 = await request(pipeline.url)
      .post('/webhooks/mist')
      .set({ 'Content-Type': 'application/json', 'X-Mist-Signature': sign(body, SECRET, 'sha1') })
      .send(body.toString());
    expect(v1.status).toBe(200);
    const upper = await request(pipeline.url)
      .post('/webhooks/mist')
      .set({ 'CONTENT-TYPE': 'application/json; charset=utf-8', 'X-MIST-SIGNATURE-V2': sign(body, SECRET) })
      .send(body.toString());
    expect(upper.status).toBe(200);
  });

  it.each([
    ['no signature', { 'content-type': 'application/json' }],
    ['wrong secret', signed(body, 'not-the-secret')],
    ['signature of the re-serialised body', signed(JSON.stringify(JSON.parse(body.toString())))],
    ['v2 wrong even with a right v1', { ...signed(body, 'nope'), 'x-mist-signature': sign(body, SECRET, 'sha1') }],
  ])('401 for %s', async (_label, headers) => {
    const before = await webhookCount(pipeline, 'bad_signature');
    const res = await request(pipeline.url).post('/webhooks/mist').set(headers).send(body.toString());
    expect(res.status).toBe(401);
    expect(res.body.error).toEqual(expect.any(String));
    expect(JSON.stringify(res.body)).not.toContain(SECRET);
    expect(await webhookCount(pipeline, 'bad_signature')).toBe(before + 1);
  });

  it.each([
    ['not JSON', '{"topic": "alarms", "events": [', /not valid JSON/],
    ['not an object', '[1,2]', /JSON object/],
    ['no topic', '{"events": []}', /topic/],
    ['topic not a string', '{"topic": 5, "events": []}', /topic/],
    ['events not an array', '{"topic": "alarms", "events": {}}', /events/],
  ])('400 when the body is %s', async (_label, payload, message) => {
    const res = await request(pipeline.url).post('/webhooks/mist').set(signed(payload)).send(payload);
    expect(res.status).toBe(400);
    expect(res.body.error).toMatch(message);
  });

  it('413 above MAX_BODY_BYTES, declared or streamed', async () => {
    const big = JSON.stringify({ topic: 'alarms', events: [{ pad: 'x'.repeat(5000) }] });
    const res = await request(pipeline.url).post('/webhooks/mist').set(signed(big)).send(big);
    expect(res.status).toBe(413);
    expect(await webhookCount(pipeline, 'too_large')).toBeGreaterThan(0);
  });

  it('413 with more events than MAX_EVENTS_PER_WEBHOOK, before anything is stored', async () => {
    const before = await webhookCount(pipeline, 'too_large');
    const four = JSON.stringify({ topic: 'device-events', events: [{}, {}, {}, {}] });
    const res = await request(pipeline.url).post('/webhooks/mist').set(signed(four)).send(four);
    expect(res.status).toBe(413);
    expect(res.body.error).toMatch(/4 events in one body; at most 3 \(MAX_EVENTS_PER_WEBHOOK\)/);
    expect(await webhookCount(pipeline, 'too_large')).toBe(before + 1);
    const three = JSON.stringify({ topic: 'device-events', events: [{}, {}, {}] });
    expect((await request(pipeline.url).post('/webhooks/mist').set(signed(three)).send(three)).status).toBe(200);
  });

  it('415 when the content type is not JSON', async () => {
    const res = await request(pipeline.url).post('/webhooks/mist').set({ ...signed(body), 'content-type': 'text/plain' }).send(body.toString());
    expect(res.status).toBe(415);
    const encoded = await request(pipeline.url).post('/webhooks/mist').set({ ...signed(body), 'content-encoding': 'br' }).send(body.toString());
    expect(encoded.status).toBe(415);
  });

  it('405 for other methods, 404 for other paths', async () => {
    expect((await request(pipeline.url).get('/webhooks/mist')).status).toBe(405);
    expect((await request(pipeline.url).post('/webhooks/other').set(signed(body)).send(body.toString())).status).toBe(404);
  });

  it('serves /healthz, /readyz and /metrics on the same port without ADMIN_PORT', async () => {
    expect((await request(pipeline.url).get('/healthz')).status).toBe(200);
    const ready = await request(pipeline.adminUrl).get('/readyz');
    expect(ready.status).toBe(200);
    expect(ready.body.ready).toBe(true);
    const metrics = await request(pipeline.adminUrl).get('/metrics');
    expect(metrics.text).toContain('mistbridge_webhooks_total{outcome="accepted"}');
  });
});

describe('503 with Retry-After when the bus cannot take the webhook', () => {
  it('answers 503 once the backlog is over its bound', async () => {
    // Splunk is down: the normalized events wait for the sink, so the backlog only grows.
    const hec = await new FakeHec().start();
    hec.down = HEC_REPLIES.busy;
    const pipeline = await startPipeline({
      MISTBRIDGE_ROLES: 'ingress,normalizer,splunk',
      INGRESS_MAX_BACKLOG_BYTES: '1024',
      SPLUNK_HEC_URL: hec.url,
      SPLUNK_HEC_TOKEN: hec.token,
      SPLUNK_HEC_LINGER_MS: '0',
    });
    try {
      // Each accepted webhook adds its normalized event to what the stalled sink holds.
      const statuses: number[] = [];
      let third: request.Response | undefined;
      for (let i = 0; i < 20 && !third; i++) {
        const distinct = JSON.stringify({ ...JSON.parse(body.toString()), events: [{ ...JSON.parse(body.toString()).events[0], timestamp: 1700000000 + i }] });
        const res = await request(pipeline.url).post('/webhooks/mist').set(signed(distinct)).send(distinct);
        statuses.push(res.status);
        if (res.status === 503) third = res;
        else await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(statuses[0]).toBe(200);
      expect(third).toBeDefined();
      expect(Number(third!.headers['retry-after'])).toBeGreaterThan(0);
      expect(third!.body.error).toMatch(/backlog/);
      const ready = await request(pipeline.adminUrl).get('/readyz');
      expect(ready.status).toBe(503);
      expect(ready.body.checks.ingress.reason).toMatch(/backlog/);
    } finally {
      await pipeline.stop();
      await hec.stop();
    }
  });

  it('answers 503 when the journal write fails, and 200 again once it works', async () => {
    const pipeline = await startPipeline({ MISTBRIDGE_ROLES: 'ingress,normalizer' });
    // The write itself fails (EIO), the bus stays open: only the journal can make this a 503.
    const failing = jest.spyOn(Journal.prototype, 'append').mockRejectedValueOnce(Object.assign(new Error('EIO: i/o error, write'), { code: 'EIO' }));
    try {
      const res = await request(pipeline.url).post('/webhooks/mist').set(signed(body)).send(body.toString());
      expect(res.status).toBe(503);
      expect(Number(res.headers['retry-after'])).toBeGreaterThan(0);
      expect(failing).toHaveBeenCalledTimes(1);
      expect(await webhookCount(pipeline, 'unavailable')).toBe(1);
      expect((await request(pipeline.url).post('/webhooks/mist').set(signed(body)).send(body.toString())).status).toBe(200);
    } finally {
      failing.mockRestore();
      await pipeline.stop();
    }
  });
});

describe('ADMIN_PORT and protected mode', () => {
  it('moves /metrics and /readyz off the webhook port', async () => {
    const pipeline = await startPipeline({ ADMIN_PORT: '0', MISTBRIDGE_ROLES: 'ingress,normalizer' });
    try {
      expect((await request(pipeline.url).get('/metrics')).status).toBe(404);
      expect((await request(pipeline.url).get('/healthz')).status).toBe(200);
      const admin = `http://127.0.0.1:${pipeline.http.adminPort}`;
      expect((await request(admin).get('/metrics')).status).toBe(200);
      expect((await request(admin).get('/readyz')).status).toBe(200);
      expect((await request(admin).post('/webhooks/mist').set(signed(body)).send(body.toString())).status).toBe(404);
    } finally {
      await pipeline.stop();
    }
  });
});
