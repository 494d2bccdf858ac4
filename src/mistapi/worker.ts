import { isWebhookUrl } from '../domain/webhook-path';
import type { Consumer, OutgoingMessage } from '../bus/bus';
import { Projection } from '../bus/projection';
import { sleep } from '../shared/backoff';
import { GROUPS } from '../bus/topics';
import type { MistApiConfig } from '../config/config';
import { canonicalTopic } from '../domain/topic';
import { CATALOGUE_KEYS, encodeCatalogue } from '../domain/api-catalogue';
import { decodeInventory, encodeInventory, inventoryKey, type InventoryDevice, type InventoryRecord } from '../domain/inventory';
import { readEnvelope } from '../ingress/envelope';
import type { RoleDeps } from '../shared/role-deps';
import { BACKFILL_TOPICS, Delivered, asWebhookEvents, deliveredKeys, newBodies, passWindow, type BackfillTopic } from './backfill';
import { MistApiClient, MistAuthError, MistNotFoundError, withQuery } from './client';
import { inventoryRecords, type RestDeviceStats, type RestInventoryDevice, type RestSite } from './shapes';

export interface MistApiStatus {
  ok: boolean;
  reason?: string;
  orgs?: string[];
  last_inventory?: number;
  last_backfill?: number;
}

export interface MistApiHandle extends Consumer {
  /** For /readyz (informational: a Mist API problem never makes the process unready). */
  status(): MistApiStatus;
  /** One inventory, reconciliation and back-fill pass now, or the one in progress (they also run on their periods). */
  pass(options?: { inventory?: boolean }): Promise<void>;
}

type Json = Record<string, unknown>;
const SEARCH_PATHS: Record<BackfillTopic, { endpoint: 'alarms_search' | 'audit_logs' | 'device_events_search'; path: string }> = {
  alarms: { endpoint: 'alarms_search', path: 'alarms/search' },
  audits: { endpoint: 'audit_logs', path: 'logs' },
  'device-events': { endpoint: 'device_events_search', path: 'devices/events/search' },
};

/** Mist's catalogues are fetched at most this often (CONTRACT section 10). */
const CATALOGUE_EVERY_MS = 6 * 3600_000;

/**
 * The Mist API companion (CONTRACT section 8): keeps `mist.inventory`, checks device status and
 * back-fills what webhooks missed into `mist.raw` (header `source=api`). It reads `mist.raw`
 * itself to remember what was delivered (`mist.backfill`, compacted), so that nothing is
 * delivered twice. Without MIST_API_TOKEN it idles. Whatever the API does, it never stops or
 * blocks another role: failures are logged with their fix, shown in /readyz, and retried.
 */
export async function startMistApi(deps: RoleDeps): Promise<MistApiHandle> {
  const { bus, topics, logger, clock } = deps;
  const config = deps.config.mistApi;
  if (!config) {
    logger.info('Mist API companion off: set MIST_API_TOKEN (an org read-only token) for names, device state and back-fill');
    return idle();
  }
  const client = new MistApiClient({ config, logger, metrics: deps.metrics, now: () => clock.now() });
  const delivered = new Delivered(config.backfillMaxMs);
  const inventory = new Map<string, InventoryRecord>();
  const passEnds = new Map<string, number>();
  const lists = new Map<string, { sites: RestSite[]; devices: RestInventoryDevice[] }>();
  let status: MistApiStatus = { ok: false, reason: 'starting' };
  let orgs: string[] | null = config.orgIds;
  const stopping = new AbortController();
  // What was delivered, what the inventory holds and where passes ended: a projection of
  // mist.backfill and mist.inventory, rebuilt when the role's consumer is assigned.
  const projection = new Projection(() => {
    delivered.clear();
    inventory.clear();
    passEnds.clear();
  });
  const mark = (key: string, at: number): OutgoingMessage => ({ key, value: Buffer.from(JSON.stringify({ at })) });

  // What arrives on mist.raw (webhooks, and back-fill's own bodies) is delivered.
  const consumer = await bus.consume({
    group: GROUPS.mistapi,
    topics: [topics.raw],
    maxBatch: 500,
    onAssign: (_assignment, generation) =>
      projection.rebuild(generation, async () => {
        const [marks, records] = await Promise.all([bus.snapshot(topics.backfill), bus.snapshot(topics.inventory)]);
        for (const message of marks) {
          if (!message.value) continue;
          const value = JSON.parse(message.value.toString('utf8')) as { at?: number; end?: number };
          if (message.key.startsWith('pass:')) passEnds.set(message.key.slice(5), value.end!);
          else delivered.add(message.key, value.at!);
        }
        for (const message of records) {
          const record = decodeInventory(message.value);
          if (record) inventory.set(message.key, record);
        }
      }),
    handler: (batch, context) =>
      projection.apply(context.generation, async () => {
        const now = clock.now();
        const seen = new Set<string>();
        for (const message of batch) {
          let body: unknown;
          try {
            body = message.value && JSON.parse(message.value.toString('utf8'));
          } catch {
            continue; // the normalizer dead-letters it
          }
          for (const key of deliveredKeys(body)) if (!delivered.has(key)) seen.add(key);
        }
        if (seen.size === 0) return;
        // The marks are durable before they count (a crash in between re-reads this batch).
        await context.produce(topics.backfill, [...seen].map((key) => mark(key, now)));
        for (const key of seen) delivered.add(key, now);
      }),
  });
  /** State work outside a batch: only against the state of the assignment it started under. */
  const current = (work: () => Promise<void>, generation = consumer.assigned()): Promise<void> => projection.ifCurrent(generation, work);

  const resolveOrgs = async (): Promise<string[]> => {
    if (orgs) return orgs;
    const { body } = await client.get<{ privileges?: Array<{ scope?: string; org_id?: string }> }>('self', '/api/v1/self', stopping.signal);
    const found = [...new Set((body.privileges ?? []).filter((p) => p.scope === 'org' && p.org_id).map((p) => p.org_id!))];
    if (found.length !== 1) throw new Error(`the token sees ${found.length} orgs (${found.join(', ') || 'none'}): set MIST_ORG_ID to the org(s) to follow`);
    orgs = found;
    return orgs;
  };

  const writeInventory = async (records: InventoryRecord[]): Promise<void> => {
    // Only what changed: a steady org writes nothing between status changes.
    const changed = records.filter((r) => JSON.stringify(inventory.get(inventoryKey(r))) !== JSON.stringify(r));
    if (changed.length === 0) return;
    await bus.produce(topics.inventory, changed.map((r) => ({ key: inventoryKey(r), value: encodeInventory(r) })));
    await current(async () => {
      for (const r of changed) inventory.set(inventoryKey(r), r);
    });
  };

  /**
   * Mist's catalogues (alarm definitions, device events) into the inventory, at most every
   * CATALOGUE_EVERY_MS: they change with Mist's releases, and the request budget is shared.
   */
  let cataloguesAt = -Infinity;
  const refreshCatalogues = async (): Promise<void> => {
    if (clock.now() - cataloguesAt < CATALOGUE_EVERY_MS) return;
    const [alarms, deviceEvents] = [await client.get<unknown>('const_alarm_defs', '/api/v1/const/alarm_defs', stopping.signal), await client.get<unknown>('const_device_events', '/api/v1/const/device_events', stopping.signal)];
    await bus.produce(topics.inventory, [
      { key: CATALOGUE_KEYS.alarmDefs, value: encodeCatalogue(alarms.body) },
      { key: CATALOGUE_KEYS.deviceEvents, value: encodeCatalogue(deviceEvents.body) },
    ]);
    cataloguesAt = clock.now();
  };

  const refresh = async (org: string, withLists: boolean): Promise<void> => {
    const base = `/api/v1/orgs/${org}`;
    let known = lists.get(org);
    if (withLists || !known) {
      const [sites, devices] = [await client.pages<RestSite>('sites', `${base}/sites`, stopping.signal), await client.pages<RestInventoryDevice>('inventory', `${base}/inventory`, stopping.signal)];
      known = { sites, devices };
      lists.set(org, known);
    }
    const stats = await client.pages<RestDeviceStats>('device_stats', withQuery(`${base}/stats/devices`, { type: 'all' }), stopping.signal);
    await writeInventory(inventoryRecords(org, known.sites, known.devices, stats, (key) => inventory.get(key) as InventoryDevice | undefined));
  };

  /**
   * Effects before marks: the bodies are acknowledged on mist.raw, then their keys are written to
   * mist.backfill, then they count as delivered. A failure anywhere leaves them unmarked, so the
   * pass (whose end is not advanced) finds them again.
   */
  const inject = async (topic: string, bodies: Buffer[], keys: string[], count: number, generation: number | null): Promise<void> => {
    if (bodies.length === 0) return;
    const now = clock.now();
    await bus.produce(
      topics.raw,
      bodies.map((body) => {
        const envelope = readEnvelope(body);
        return { key: envelope.ok ? envelope.key : topic, value: body, headers: { received_at: String(now), content_type: 'application/json', auth: 'api', source: 'api' } };
      }),
    );
    await bus.produce(topics.backfill, keys.map((key) => mark(key, now)));
    await current(async () => {
      for (const key of keys) delivered.add(key, now);
    }, generation);
    deps.metrics.mistApi!.backfilled.inc({ topic: canonicalTopic(topic) }, count);
    logger.info('back-filled events no webhook delivered', { topic, events: count });
  };

  /**
   * A webhook that reached mist.raw but not yet this role's consumer would look missed: a pass
   * begins once the consumer has read everything written before it (or fails, and the next retries).
   */
  const caughtUp = async (): Promise<void> => {
    for (let waited = 0; ; waited += 100) {
      const behind = (await bus.lag()).filter((l) => l.group === GROUPS.mistapi && l.lag > 0);
      if (behind.length === 0) return;
      if (waited >= 30_000) throw new Error(`the mistapi consumer is ${behind.reduce((n, l) => n + l.lag, 0)} webhooks behind ${topics.raw}; back-fill waits for it`);
      await sleep(100, stopping.signal);
    }
  };

  const backfill = async (org: string): Promise<void> => {
    await caughtUp();
    const generation = consumer.assigned();
    const base = `/api/v1/orgs/${org}`;
    const { start, end } = passWindow(clock.now(), passEnds.get(org) ?? null, config.reconcileMs, config.backfillMaxMs);
    const covered = new Set<string>();
    // (1) Mist's own delivery log: the exact bodies of failed deliveries to this receiver.
    try {
      const hooks = await client.pages<Json>('webhooks', `${base}/webhooks`, stopping.signal);
      for (const hook of hooks.filter(pointsHere)) {
        const failures = await client.search<Json>('webhook_deliveries', withQuery(`${base}/webhooks/${String(hook.id)}/events/search`, { status: 'failure' }), start / 1000, end / 1000, stopping.signal);
        for (const failure of failures) {
          const payload = JSON.parse(String(failure.req_payload ?? 'null')) as { topic?: string; events?: Json[] } | null;
          if (!payload?.topic || !Array.isArray(payload.events)) continue;
          const fresh = newBodies(payload.topic, payload.events, delivered);
          const whole = fresh.keys.length === payload.events.length && fresh.bodies.length === 1;
          // Unchanged when nothing of it arrived (its event ids are the webhook's); else only what is missing.
          await inject(payload.topic, whole ? [Buffer.from(String(failure.req_payload))] : fresh.bodies, fresh.keys, fresh.keys.length, generation);
        }
        for (const topic of (hook.topics as string[] | undefined) ?? []) if (topic !== 'device-events') covered.add(canonicalTopic(topic));
      }
    } catch (err) {
      if (!(err instanceof MistAuthError || err instanceof MistNotFoundError)) throw err;
      covered.clear(); // the log cannot be read with this token: the searches cover everything
    }
    // (2) The searches, for what the log does not cover.
    for (const topic of BACKFILL_TOPICS.filter((t) => !covered.has(t))) {
      const { endpoint, path } = SEARCH_PATHS[topic];
      const results = await client.search<Json>(endpoint, `${base}/${path}`, start / 1000, end / 1000, stopping.signal);
      const fresh = newBodies(topic, asWebhookEvents(topic, results), delivered);
      await inject(topic, fresh.bodies, fresh.keys, fresh.keys.length, generation);
    }
    // The pass's end moves only once everything it found is durable (a throw above keeps the old end).
    await bus.produce(topics.backfill, [{ key: `pass:${org}`, value: Buffer.from(JSON.stringify({ end })) }]);
    await current(async () => void passEnds.set(org, end), generation);
  };

  let running: Promise<void> | null = null;
  let queued: Promise<void> | null = null;
  const pass = (options: { inventory?: boolean } = {}): Promise<void> =>
    (running ??= (async () => {
      try {
        // What was delivered is known once the consumer's state is rebuilt: a pass before that would deliver again.
        for (let waited = 0; projection.generation === null; waited += 100) {
          if (waited >= 60_000) throw new Error('the mistapi consumer has no assignment yet (Kafka group join)');
          await sleep(100, stopping.signal);
        }
        const followed = await resolveOrgs();
        if (options.inventory) await refreshCatalogues();
        for (const org of followed) {
          await refresh(org, options.inventory ?? false);
          await backfill(org);
        }
        // Forgotten in memory only once the tombstones are written (else a restart still knows them, harmlessly).
        const gone = delivered.expired(clock.now());
        if (gone.length > 0) {
          await bus.produce(topics.backfill, gone.map((key) => ({ key, value: null })));
          await current(async () => delivered.forget(gone));
        }
        status = { ok: true, orgs: followed, last_inventory: clock.now(), last_backfill: clock.now() };
      } catch (err) {
        if (stopping.signal.aborted) return;
        const reason = fixFor(err as Error, config);
        if (!status.ok && status.reason === reason) logger.warn('Mist API pass failed again', { reason });
        else logger.error('Mist API pass failed; webhooks keep flowing, the next pass retries', { reason });
        status = { ok: false, reason, orgs: orgs ?? undefined };
      } finally {
        running = null;
      }
    })());

  void pass({ inventory: true });
  const stopInventory = clock.every(config.inventoryMs, () => void pass({ inventory: true }));
  const stopReconcile = clock.every(config.reconcileMs, () => void pass());

  return {
    group: GROUPS.mistapi,
    ready: () => consumer.ready(),
    assigned: () => consumer.assigned(),
    status: () => status,
    // A pass that starts after the request (one in progress may have read the API before it came).
    pass: (options) => (queued ??= (running ?? Promise.resolve()).then(() => {
      queued = null;
      return pass(options);
    })),
    async stop() {
      stopInventory();
      stopReconcile();
      stopping.abort();
      await running?.catch(() => undefined);
      await consumer.stop();
    },
  };
}

/** A webhook of this org that posts to a mistbridge ingress (the path is mistbridge's). */
function pointsHere(hook: Json): boolean {
  return hook.type === 'http-post' && hook.enabled !== false && typeof hook.url === 'string' && isWebhookUrl(hook.url);
}

/** The failure, said with what fixes it. */
function fixFor(err: Error, config: MistApiConfig): string {
  if (err instanceof MistAuthError) {
    return err.status === 401
      ? `${err.message}: MIST_API_TOKEN is not a valid token for ${config.baseUrl} (check MIST_API_HOST: each Mist cloud has its own host, e.g. api.eu.mist.com)`
      : `${err.message}: the token lacks the privilege; an org-level read-only token is enough`;
  }
  if (err instanceof MistNotFoundError) return `${err.message}: check MIST_ORG_ID and MIST_API_HOST`;
  return err.message;
}

function idle(): MistApiHandle {
  return {
    group: GROUPS.mistapi,
    ready: () => true,
    assigned: () => null,
    status: () => ({ ok: true, reason: 'off: MIST_API_TOKEN is not set' }),
    pass: async () => undefined,
    stop: async () => undefined,
  };
}

