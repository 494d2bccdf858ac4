import type { Tenant } from '../domain/webhook-path';
import { envelopeProblem } from '../normalizer/normalize';

export type Envelope = { ok: true; topic: string; eventCount: number; key: string } | { ok: false; error: string; forbidden?: boolean };

/** Checks a raw body is a Mist envelope and derives its bus key (CONTRACT section 4: site_id of the first event, else org_id, else topic). */
export function readEnvelope(body: Buffer, tenant: Tenant | null = null): Envelope {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    return { ok: false, error: `body is not valid JSON: ${(err as Error).message}` };
  }
  const problem = envelopeProblem(parsed);
  if (problem) return { ok: false, error: problem };
  const { topic, events } = parsed as { topic: string; events: unknown[] };
  if (tenant) {
    // A tenant's secret must not vouch for another tenant's events (events without ids are the path's).
    for (const event of events as Array<Record<string, unknown> | undefined>) {
      const org = stringField(event, 'org_id');
      const site = stringField(event, 'site_id');
      if (org !== null && org.toLowerCase() !== tenant.orgId) return { ok: false, forbidden: true, error: `an event of org ${org} on the path of org ${tenant.orgId}` };
      if (tenant.siteId && site !== null && site.toLowerCase() !== tenant.siteId) return { ok: false, forbidden: true, error: `an event of site ${site} on the path of site ${tenant.siteId}` };
    }
  }
  const first = events[0] as Record<string, unknown> | undefined;
  const key = stringField(first, 'site_id') ?? stringField(first, 'org_id') ?? topic;
  return { ok: true, topic, eventCount: events.length, key };
}

function stringField(event: Record<string, unknown> | undefined, field: string): string | null {
  const value = event && typeof event === 'object' ? event[field] : undefined;
  return typeof value === 'string' && value !== '' ? value : null;
}
