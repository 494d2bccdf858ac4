import { isWebhookUrl, webhookPathTenant } from '../domain/webhook-path';
import type { Config } from '../config/config';
import { createMetrics } from '../shared/metrics';
import type { Logger } from '../shared/logger';
import { MistApiClient, MistAuthError, MistNotFoundError, withQuery } from '../mistapi/client';
import type { Output } from './common';

type Json = Record<string, unknown>;
const SUPPORTED = new Set(['alarms', 'audits', 'device-events', 'device_events', 'device-updowns', 'device_updowns', 'client-sessions', 'client-join', 'client-info', 'location', 'occupancy-alerts', 'nac-events', 'nac-accounting', 'mxedge-events', 'site-sle', 'site_sle', 'zone', 'rssizone', 'asset-raw', 'location-asset', 'ping']);

export interface DoctorOptions {
  /** How long to wait for Mist's ping to be delivered. */
  pingWaitMs?: number;
  pollMs?: number;
  /** false: read-only (the console's periodic check never pings). */
  ping?: boolean;
}

/**
 * `mistbridge doctor` (CONTRACT section 1): why nothing arrives. Lists the org's and sites'
 * webhooks that point at this receiver (`--url <the public webhook URL>`, default any URL ending
 * in /webhooks/mist; `--all` for every one), checks each (http-post, enabled, a secret, topics
 * mistbridge knows, verify_cert), flags org+site double subscriptions, pings one and waits for
 * Mist's delivery log to show it delivered, and shows Mist's recent failed deliveries.
 * Exit 0 when every check passes, 1 with what to fix, 2 for usage.
 */
export async function doctorCommand(args: string[], config: Config, logger: Logger, out: Output, options: DoctorOptions = {}): Promise<number> {
  const urlFlag = args.indexOf('--url');
  const wanted = urlFlag >= 0 ? args[urlFlag + 1] : undefined;
  if (urlFlag >= 0 && !wanted) {
    out.stderr('usage: mistbridge doctor [--url <the webhook URL Mist posts to>] [--all]');
    return 2;
  }
  if (!config.mistApi) {
    out.stderr('mistbridge doctor needs MIST_API_TOKEN (an org read-only Mist API token) and MIST_API_HOST for your Mist cloud');
    return 2;
  }
  const client = new MistApiClient({ config: config.mistApi, logger, metrics: createMetrics(['mistapi'], undefined, { processMetrics: false }), now: Date.now, retryLimitMs: 30_000 });
  const problems: string[] = [];
  const ok = (line: string): void => out.stdout(`ok    ${line}`);
  const bad = (line: string): void => {
    problems.push(line);
    out.stdout(`FAIL  ${line}`);
  };
  const note = (line: string): void => out.stdout(`note  ${line}`);
  const pointsHere = (hook: Json): boolean => args.includes('--all') || (typeof hook.url === 'string' && (wanted ? hook.url === wanted : isWebhookUrl(hook.url)));
  /** A tenant path that names another org or site than the webhook's own (its events would be refused with 403). */
  const wrongTenant = (hook: Json, org: string): string | null => {
    let tenant;
    try {
      tenant = webhookPathTenant(new URL(String(hook.url)).pathname);
    } catch {
      return null;
    }
    if (!tenant) return null;
    if (tenant.orgId !== org.toLowerCase()) return `its path names org ${tenant.orgId}, but the webhook belongs to org ${org}: every event would be refused (403); use /webhooks/mist/${org}`;
    if (tenant.siteId && hook.site_id && tenant.siteId !== String(hook.site_id).toLowerCase()) return `its path names site ${tenant.siteId}, but the webhook belongs to site ${String(hook.site_id)}`;
    if (tenant.siteId && !hook.site_id) return `its path names site ${tenant.siteId}, but it is an org webhook: events of the org's other sites would be refused (403)`;
    return null;
  };
  const conversion: string[] = [];

  try {
    let orgs = config.mistApi.orgIds;
    if (!orgs) {
      const { body } = await client.get<{ privileges?: Array<{ scope?: string; org_id?: string }> }>('self', '/api/v1/self');
      orgs = [...new Set((body.privileges ?? []).filter((p) => p.scope === 'org' && p.org_id).map((p) => p.org_id!))];
      if (orgs.length !== 1) {
        out.stderr(`the token sees ${orgs.length} orgs: set MIST_ORG_ID`);
        return 1;
      }
    }
    for (const org of orgs) {
      out.stdout(`org ${org}`);
      const orgHooks = (await client.pages<Json>('webhooks', `/api/v1/orgs/${org}/webhooks`)).filter(pointsHere);
      const sites = await client.pages<Json>('sites', `/api/v1/orgs/${org}/sites`);
      const siteHooks: Json[] = [];
      for (const site of sites) siteHooks.push(...(await client.pages<Json>('webhooks', `/api/v1/sites/${String(site.id)}/webhooks`)).filter(pointsHere).map((h) => ({ ...h, site_name: site.name })));
      const hooks = [...orgHooks, ...siteHooks];
      if (hooks.length === 0) {
        bad(`no webhook of this org or its sites points ${wanted ? `at ${wanted}` : 'at a /webhooks/mist URL'}: add one (Organization > Settings > Webhooks), type http-post`);
        continue;
      }
      for (const hook of hooks) {
        const where = hook.site_id && hook.site_name ? `site ${String(hook.site_name)}` : 'org';
        const name = `${where} webhook "${String(hook.name ?? hook.id)}" → ${String(hook.url)}`;
        const topics = (hook.topics as string[] | undefined) ?? [];
        const issues = [
          hook.type !== 'http-post' ? `type is ${String(hook.type)}: mistbridge receives http-post` : null,
          hook.enabled === false ? 'disabled' : null,
          !hook.secret ? 'no secret: set one and the same MIST_WEBHOOK_SECRET' : null,
          topics.length === 0 ? 'no topics' : null,
          topics.some((t) => !SUPPORTED.has(t)) ? `topics mistbridge does not know: ${topics.filter((t) => !SUPPORTED.has(t)).join(', ')}` : null,
          hook.verify_cert === false ? 'verify_cert is off: Mist does not check the receiver\'s certificate' : null,
          wrongTenant(hook, org),
        ].filter((i): i is string => i !== null);
        const key = hook.site_id ? `${org}/${String(hook.site_id)}` : org;
        conversion.push(`${key} <the secret of webhook "${String(hook.name ?? hook.id)}">    # then point it at /webhooks/mist/${key}`);
        if (issues.length > 0) bad(`${name}: ${issues.join('; ')}`);
        else ok(`${name}: http-post, enabled, secret set, topics ${topics.join(', ')}`);
      }
      const orgTopics = new Set(orgHooks.flatMap((h) => (h.topics as string[] | undefined) ?? []));
      const doubled = [...new Set(siteHooks.flatMap((h) => ((h.topics as string[] | undefined) ?? []).filter((t) => orgTopics.has(t))))];
      if (doubled.length > 0) note(`${doubled.join(', ')} subscribed at org and site level: Mist delivers those events twice; mistbridge keeps one (same event_id), but the traffic doubles`);

      // Mist's ping, and whether its delivery log shows it delivered.
      const target = orgHooks[0];
      if (target && options.ping !== false) {
        const since = Math.floor(Date.now() / 1000) - 1;
        await client.post('webhook_ping', `/api/v1/orgs/${org}/webhooks/${String(target.id)}/ping`);
        const delivery = await waitForPing(client, org, String(target.id), since, options);
        if (delivery === 'no_log') note('ping sent; this token cannot read the delivery log, so its arrival is not confirmed (look for topic ping in `mistbridge tail`)');
        else if (!delivery) bad(`ping sent to ${String(target.url)} but Mist logged no delivery within ${Math.round((options.pingWaitMs ?? 30_000) / 1000)} s`);
        else if (delivery.status === 'success') ok(`ping delivered to ${String(target.url)} (HTTP ${String(delivery.status_code)})`);
        else bad(`ping to ${String(target.url)} failed: HTTP ${String(delivery.status_code ?? '-')} ${String(delivery.error ?? '')}`.trim());
      }
      if (target) {
        const failures = await recentFailures(client, org, orgHooks);
        if (failures === null) note('the delivery log cannot be read with this token');
        else if (failures.length === 0) ok('no failed delivery in the last 24 hours');
        else {
          bad(`${failures.length} failed deliveries in the last 24 hours; the latest:`);
          for (const f of failures.slice(0, 5)) out.stdout(`      ${new Date(Number(f.timestamp) * 1000).toISOString()}  ${String(f.topic ?? '')}  HTTP ${String(f.status_code ?? '-')}  ${String(f.error ?? '')}`);
        }
      }
    }
  } catch (err) {
    if (err instanceof MistAuthError) out.stderr(`${err.message}: check MIST_API_TOKEN and MIST_API_HOST (each Mist cloud has its own host)`);
    else out.stderr((err as Error).message);
    return 1;
  }
  if (conversion.length > 0 && (config.auth.secrets.length > 2 || args.includes('--keyed'))) {
    // Global secrets cost an HMAC each per request: the keyed form bounds it to 2 (CONTRACT section 2).
    note('MIST_WEBHOOK_SECRETS_FILE in the keyed form (at most 2 HMACs per request), one line per webhook found:');
    for (const line of conversion) out.stdout(`      ${line}`);
  }
  if (problems.length === 0) out.stdout('every check passed');
  return problems.length === 0 ? 0 : 1;
}

async function waitForPing(client: MistApiClient, org: string, hookId: string, sinceS: number, options: DoctorOptions): Promise<Json | null | 'no_log'> {
  const deadline = Date.now() + (options.pingWaitMs ?? 30_000);
  while (Date.now() < deadline) {
    try {
      const found = await client.search<Json>('webhook_deliveries', withQuery(`/api/v1/orgs/${org}/webhooks/${hookId}/events/search`, { topic: 'ping' }), sinceS, Date.now() / 1000 + 1);
      if (found.length > 0) return found[found.length - 1]!;
    } catch (err) {
      if (err instanceof MistAuthError || err instanceof MistNotFoundError) return 'no_log';
      throw err;
    }
    await new Promise((resolve) => setTimeout(resolve, options.pollMs ?? 2000));
  }
  return null;
}

async function recentFailures(client: MistApiClient, org: string, hooks: Json[]): Promise<Json[] | null> {
  const nowS = Date.now() / 1000;
  const out: Json[] = [];
  try {
    for (const hook of hooks) out.push(...(await client.search<Json>('webhook_deliveries', withQuery(`/api/v1/orgs/${org}/webhooks/${String(hook.id)}/events/search`, { status: 'failure' }), nowS - 86400, nowS)));
  } catch (err) {
    if (err instanceof MistAuthError || err instanceof MistNotFoundError) return null;
    throw err;
  }
  return out.sort((a, b) => Number(b.timestamp) - Number(a.timestamp));
}
