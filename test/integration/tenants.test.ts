import { renameSync, writeFileSync } from 'node:fs';
import { FakeHec } from '../helpers/fake-hec';
import { eventually, sample, sampleJson, tempFile } from '../helpers/fixtures';
import { capturingLogger, metricSum, postWebhook, startPipeline } from '../helpers/pipeline';

/**
 * Tenant paths (CONTRACT sections 2–3, 0.3): one process for many Mist orgs and sites, each with
 * its own keyed secrets; at most 2 HMACs per request on a tenant path, whatever the number of tenants.
 */
const ORG_A = '09dac91f-6e73-4100-89f7-698e0fafbb1b'; // the alarm sample's org
const SITE_A = 'dcfb31a1-d615-4361-8c95-b9dde05aa704'; // and site
const ORG_B = '2818e386-8dec-2562-9ede-5b8a0fbbdc71';
const alarm = sample('alarms__device-down-alarmdef.json');
const ofOrgB = JSON.stringify({ ...sampleJson('alarms__device-down-alarmdef.json'), events: sampleJson('alarms__device-down-alarmdef.json').events.map((e) => ({ ...e, org_id: ORG_B, site_id: undefined })) });

const secretsFile = (text: string): string => tempFile('secrets', text);

describe('tenant paths and keyed secrets', () => {
  jest.setTimeout(30_000);
  let pipeline: Awaited<ReturnType<typeof startPipeline>> | null = null;
  afterEach(async () => {
    await pipeline?.stop();
    pipeline = null;
    jest.restoreAllMocks();
  });

  it('two orgs and a site key on one process: each path takes only its own secrets, cross-tenant bodies are refused, events without an org are the path\'s', async () => {
    const hec = await new FakeHec().start();
    const file = secretsFile(`# tenants\n${ORG_A} secret-a\n${ORG_A}/${SITE_A} secret-site\n${ORG_B} secret-b\n`);
    pipeline = await startPipeline({ MIST_WEBHOOK_SECRETS_FILE: file, SPLUNK_HEC_URL: hec.url, SPLUNK_HEC_TOKEN: hec.token, SPLUNK_HEC_LINGER_MS: '5' });
    const post = (body: Buffer | string, secret: string, path: string): Promise<number> => postWebhook(pipeline!.url, body, secret, path).then((r) => r.status);

    expect(await post(alarm, 'secret-a', `/webhooks/mist/${ORG_A}`)).toBe(200);
    expect(await post(alarm, 'secret-site', `/webhooks/mist/${ORG_A}/${SITE_A}`)).toBe(200);
    expect(await post(alarm, 'secret-a', `/webhooks/mist/${ORG_A}/${SITE_A}`)).toBe(401); // the site key has its own lines
    expect(await post(alarm, 'secret-b', `/webhooks/mist/${ORG_A}`)).toBe(401); // B's secret never opens A's path
    expect(await post(alarm, 'mist-webhook-test-secret', `/webhooks/mist/${ORG_A}`)).toBe(401); // nor does a global one
    expect(await post(ofOrgB, 'secret-a', `/webhooks/mist/${ORG_A}`)).toBe(403); // A's secret vouching for B's events
    expect(await post(alarm, 'secret-b', `/webhooks/mist/${ORG_B}`)).toBe(403); // B's secret, A's events
    expect(await post(alarm, 'mist-webhook-test-secret', '/webhooks/mist')).toBe(200); // the bare path: the globals
    expect(await post(alarm, 'secret-a', '/webhooks/mist')).toBe(401); // keyed secrets are not global
    expect(await post(alarm, 'secret-a', `/webhooks/mist/not-an-org`)).toBe(404);

    // zone and ping carry no org_id: accepted on a tenant path and attributed to its org
    expect(await post(sample('zone__asset-enter-schema.json'), 'secret-a', `/webhooks/mist/${ORG_A}`)).toBe(200);
    expect(await post(sample('ping__delivery-test.json'), 'secret-a', `/webhooks/mist/${ORG_A}/`)).toBe(200);
    await eventually(() => hec.events().some((e) => e.event.topic === 'zone'), 'zone event delivered');
    expect(hec.events().find((e) => e.event.topic === 'zone')!.event.org_id).toBe(ORG_A);

    expect(await metricSum(pipeline, 'mistbridge_tenant_webhooks_total', { org_id: ORG_A, outcome: 'accepted' })).toBe(4);
    expect(await metricSum(pipeline, 'mistbridge_tenant_webhooks_total', { org_id: ORG_A, outcome: 'bad_signature' })).toBe(4);
    expect(await metricSum(pipeline, 'mistbridge_tenant_webhooks_total', { org_id: ORG_B, outcome: 'bad_signature' })).toBe(1);
    expect(await metricSum(pipeline, 'mistbridge_webhooks_total', { outcome: 'bad_signature' })).toBe(6);
    await hec.stop();
  });

  it('1,000 keyed orgs and bogus-signature 5 MB posts: at most 2 HMACs per request on a tenant path', async () => {
    const orgs = Array.from({ length: 1000 }, (_, i) => `${i.toString(16).padStart(8, '0')}-0000-4000-8000-000000000000`);
    const file = secretsFile(orgs.map((org) => `${org} current-${org}\n${org} previous-${org}\n`).join(''));
    pipeline = await startPipeline({ MIST_WEBHOOK_SECRETS_FILE: file, MAX_BODY_BYTES: String(6 * 1024 * 1024) });
    // the module object the ingress calls into (a namespace import is a frozen copy)
    const hmac = jest.spyOn(jest.requireActual<typeof import('node:crypto')>('node:crypto'), 'createHmac');
    const big = JSON.stringify({ topic: 'alarms', events: [{ pad: 'x'.repeat(5 * 1024 * 1024) }] });
    for (const org of [orgs[0]!, orgs[500]!, orgs[999]!, 'ffffffff-0000-4000-8000-000000000000']) {
      hmac.mockClear();
      const response = await fetch(`${pipeline.url}/webhooks/mist/${org}`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-mist-signature-v2': 'ab'.repeat(32) }, body: big });
      expect(response.status).toBe(401);
      expect(hmac.mock.calls.length).toBeLessThanOrEqual(2);
    }
    // the unknown org falls back to the globals: one here (MIST_WEBHOOK_SECRET)
    expect(hmac.mock.calls.length).toBe(1);
  });

  it('a 0.2 file of many unkeyed lines still works on the bare path, with a warning naming the cost and the keyed form', async () => {
    const { logger, lines } = capturingLogger();
    const file = secretsFile(['one', 'two', 'three', 'four'].map((s) => `secret-${s}`).join('\n'));
    pipeline = await startPipeline({ MIST_WEBHOOK_SECRETS_FILE: file }, { logger });
    expect((await postWebhook(pipeline.url, alarm, 'secret-four')).status).toBe(200);
    const warning = lines.find((l) => String(l.message).includes('global webhook secrets'));
    expect(String(warning?.message)).toMatch(/5 global webhook secrets.*every one is tried.*<org_id> <secret>/);
  });

  it('re-reads the file when it is replaced (a Kubernetes Secret swaps a symlink); an invalid new content keeps the last good one, says why and counts it', async () => {
    const file = secretsFile(`${ORG_A} old-secret\n`);
    pipeline = await startPipeline({ MIST_WEBHOOK_SECRETS_FILE: file });
    const path = `/webhooks/mist/${ORG_A}`;
    expect((await postWebhook(pipeline.url, alarm, 'old-secret', path)).status).toBe(200);
    // rotation: the new secret beside the previous, written elsewhere and renamed over (atomic, like the kubelet)
    writeFileSync(`${file}.new`, `${ORG_A} new-secret\n${ORG_A} old-secret\n`);
    renameSync(`${file}.new`, file);
    await eventually(async () => (await postWebhook(pipeline!.url, alarm, 'new-secret', path)).status === 200, 'the new secret accepted', 15_000);
    // three lines for one key: invalid; the last good content stays
    writeFileSync(`${file}.new`, `${ORG_A} a\n${ORG_A} b\n${ORG_A} c\n`);
    renameSync(`${file}.new`, file);
    await eventually(async () => (await metricSum(pipeline!, 'mistbridge_secrets_reload_failures_total', {})) === 1, 'the failed reload counted', 15_000);
    expect((await postWebhook(pipeline.url, alarm, 'new-secret', path)).status).toBe(200);
    const readyz = (await (await fetch(`${pipeline.adminUrl}/readyz`)).json()) as { checks: Record<string, { reason?: string }> };
    expect(readyz.checks.secrets_file!.reason).toMatch(/more than 2 secrets for/);
  });

  it('refuses a file with a third secret for one key at start-up', async () => {
    const file = secretsFile(`${ORG_A} a\n${ORG_A} b\n${ORG_A} c\n`);
    await expect(startPipeline({ MIST_WEBHOOK_SECRETS_FILE: file })).rejects.toThrow(/line 3: more than 2 secrets for 09dac91f/);
  });
});
