import { isWebhookUrl, webhookPathTenant } from '../../../src/domain/webhook-path';

const ORG = '2818e386-8dec-2562-9ede-5b8a0fbbdc71';
const SITE = '4ac1dcf4-9d8b-7211-65c4-057819f0862b';

describe('webhook paths: one definition for the fast path, the ingress, the companion and doctor', () => {
  it.each([
    ['/webhooks/mist', null],
    ['/webhooks/mist/', null],
    [`/webhooks/mist/${ORG}`, { orgId: ORG }],
    [`/webhooks/mist/${ORG.toUpperCase()}/`, { orgId: ORG }],
    [`/webhooks/mist/${ORG}/${SITE}`, { orgId: ORG, siteId: SITE }],
    ['/webhooks/mistx', undefined],
    ['/webhooks/mist/not-an-org', undefined],
    [`/webhooks/mist/${ORG}/${SITE}/more`, undefined],
  ])('%s → %j', (path, tenant) => {
    expect(webhookPathTenant(path)).toEqual(tenant);
  });

  it('recognizes Mist webhook URLs that point at a tenant path (the companion reads their delivery logs for back-fill)', () => {
    expect(isWebhookUrl(`https://hooks.example.com/webhooks/mist/${ORG}/${SITE}`)).toBe(true);
    expect(isWebhookUrl('https://hooks.example.com/webhooks/mist')).toBe(true);
    expect(isWebhookUrl('https://hooks.example.com/hook')).toBe(false);
    expect(isWebhookUrl('not a url')).toBe(false);
  });
});
