import { loadConfig } from '../../src/config/load';
import { doctorCommand } from '../../src/commands/doctor';
import { silentLogger } from '../../src/shared/logger';
import { FakeMistApi, OPENAPI_EXAMPLES } from '../helpers/fake-mist-api';

type Json = Record<string, unknown>;
const SITE = '497f6eca-6276-5007-bfeb-53cbbbba6f19';

/** `mistbridge doctor` against a loopback Mist API: what it finds, what it says, its exit code. */
describe('mistbridge doctor (CONTRACT section 1)', () => {
  let fake: FakeMistApi;
  beforeEach(async () => {
    fake = await new FakeMistApi().start();
    fake.sites = [{ ...(OPENAPI_EXAMPLES.sites as Json[])[0], id: SITE, name: 'HQ' }];
  });
  afterEach(() => fake.stop());

  const doctor = async (env: Record<string, string> = {}, args: string[] = []) => {
    const lines: string[] = [];
    const config = loadConfig({ MIST_API_TOKEN: fake.token, MIST_API_HOST: fake.url, ...env }, { roles: [] });
    const code = await doctorCommand(args, config, silentLogger(), { stdout: (l) => lines.push(l), stderr: (l) => lines.push(`stderr: ${l}`) }, { pingWaitMs: 2000, pollMs: 50 });
    return { code, text: lines.join('\n') };
  };
  const hook = (patch: Json): Json => ({ ...(OPENAPI_EXAMPLES.webhooks as Json[])[0], id: 'hook-1', name: 'mistbridge', type: 'http-post', enabled: true, secret: 'x', url: 'https://mist-hooks.example.com/webhooks/mist', topics: ['alarms', 'device-events'], verify_cert: true, ...patch });

  it('passes a good setup: the webhook checked, the ping delivered, no failures', async () => {
    fake.webhooks = [hook({})];
    fake.deliveries.set('hook-1', []);
    const { code, text } = await doctor();
    expect(text).toMatch(/ok {4}org webhook "mistbridge" → https:\/\/mist-hooks.example.com\/webhooks\/mist: http-post, enabled, secret set, topics alarms, device-events/);
    expect(text).toMatch(/ok {4}ping delivered to https:\/\/mist-hooks.example.com\/webhooks\/mist \(HTTP 200\)/);
    expect(text).toMatch(/every check passed/);
    expect(code).toBe(0);
    expect(fake.pings).toEqual(['hook-1']);
  });

  it('says what to fix: no secret, verify_cert off, an org+site double subscription, a failed ping and earlier failures', async () => {
    fake.webhooks = [hook({ secret: '', verify_cert: false })];
    fake.siteWebhooks.set(SITE, [hook({ id: 'hook-2', site_id: SITE, topics: ['alarms'] })]);
    fake.deliveries.set('hook-1', [{ id: 'd1', topic: 'alarms', status: 'failure', status_code: 401, error: 'signature mismatch', timestamp: Date.now() / 1000 - 60 }]);
    fake.pingAnswer = { status: 'failure', status_code: 401, error: 'signature mismatch' };
    const { code, text } = await doctor();
    expect(text).toMatch(/FAIL {2}org webhook .*no secret: set one and the same MIST_WEBHOOK_SECRET; verify_cert is off/);
    expect(text).toMatch(/note {2}alarms subscribed at org and site level/);
    expect(text).toMatch(/FAIL {2}ping to .* failed: HTTP 401 signature mismatch/);
    expect(text).toMatch(/FAIL {2}2 failed deliveries in the last 24 hours/);
    expect(code).toBe(1);
  });

  it('finds no webhook pointing here, and refuses to run without a token', async () => {
    fake.webhooks = [hook({ url: 'https://elsewhere.example.com/hook' })];
    expect(await doctor()).toMatchObject({ code: 1, text: expect.stringMatching(/no webhook of this org or its sites points at a \/webhooks\/mist URL/) });
    const lines: string[] = [];
    expect(await doctorCommand([], loadConfig({}, { roles: [] }), silentLogger(), { stdout: (l) => lines.push(l), stderr: (l) => lines.push(l) })).toBe(2);
    expect(lines.join('\n')).toMatch(/needs MIST_API_TOKEN/);
  });

  it('flags a webhook whose tenant path names another org, and prints the keyed secrets-file lines', async () => {
    const other = '2818e386-8dec-2562-9ede-5b8a0fbbdc71';
    fake.webhooks = [hook({ url: `https://mist-hooks.example.com/webhooks/mist/${other}` })];
    fake.siteWebhooks.set(SITE, [hook({ id: 'hook-2', site_id: SITE, topics: ['audits'], url: `https://mist-hooks.example.com/webhooks/mist/${fake.orgId}/${SITE}` })]);
    fake.deliveries.set('hook-1', []);
    const { code, text } = await doctor({ MIST_ORG_ID: fake.orgId }, ['--keyed']);
    expect(text).toMatch(new RegExp(`FAIL {2}org webhook .*its path names org ${other}, but the webhook belongs to org ${fake.orgId}: every event would be refused \\(403\\)`));
    expect(text).toMatch(new RegExp(`ok {4}site HQ webhook .*/webhooks/mist/${fake.orgId}/${SITE}`));
    expect(text).toContain(`${fake.orgId}/${SITE} <the secret of webhook "mistbridge">    # then point it at /webhooks/mist/${fake.orgId}/${SITE}`);
    expect(code).toBe(1);
  });

  it('a wrong token is exit 1 with the fix', async () => {
    expect(await doctor({ MIST_API_TOKEN: 'wrong', MIST_ORG_ID: fake.orgId })).toMatchObject({ code: 1, text: expect.stringMatching(/HTTP 401.*check MIST_API_TOKEN and MIST_API_HOST/) });
  });
});
