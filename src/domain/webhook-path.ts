/**
 * The webhook URL's paths (CONTRACT section 3): `/webhooks/mist`, and per tenant
 * `/webhooks/mist/<org_id>` and `/webhooks/mist/<org_id>/<site_id>` (0.3). One definition for
 * everything that routes or recognizes them: the HTTP fast path, the ingress, the Mist API
 * companion's and doctor's "points here" match.
 */
const UUID = '[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}';
const PATH = new RegExp(`^/webhooks/mist(?:/(${UUID})(?:/(${UUID}))?)?/?$`);

export const WEBHOOK_PATH_PREFIX = '/webhooks/mist';

export interface Tenant {
  orgId: string;
  siteId?: string;
}

/** The tenant a webhook path names (`null`: the bare path), or undefined when it is no webhook path. */
export function webhookPathTenant(path: string): Tenant | null | undefined {
  const match = PATH.exec(path);
  if (!match) return undefined;
  if (!match[1]) return null;
  return { orgId: match[1].toLowerCase(), ...(match[2] ? { siteId: match[2].toLowerCase() } : {}) };
}

/** Whether a Mist webhook's URL points at a mistbridge webhook path (bare or a tenant's). */
export function isWebhookUrl(url: string): boolean {
  try {
    return webhookPathTenant(new URL(url).pathname) !== undefined;
  } catch {
    return false;
  }
}

/** A tenant as its secrets-file key: `<org_id>` or `<org_id>/<site_id>`. */
export function tenantKey(tenant: Tenant): string {
  return tenant.siteId ? `${tenant.orgId}/${tenant.siteId}` : tenant.orgId;
}

export const TENANT_KEY = new RegExp(`^(${UUID})(?:/(${UUID}))?$`);
