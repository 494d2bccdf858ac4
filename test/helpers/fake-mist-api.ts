import { readFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';

type Json = Record<string, unknown>;

/** Example bodies of the Mist OpenAPI (2509.1.1), copied into the fixtures. */
export const OPENAPI_EXAMPLES = JSON.parse(readFileSync(join(__dirname, '..', 'fixtures', 'mist-api', 'openapi-examples.json'), 'utf8')) as Record<string, unknown>;

/**
 * A loopback Mist API for the companion's tests: the endpoints of CONTRACT section 8 with the
 * OpenAPI's shapes, `page`/`limit` paging with X-Page-* headers, searches by `start`/`end` with
 * `next`, 429 + Retry-After and 5xx on demand, a token check, and a count of every request.
 */
export class FakeMistApi {
  readonly token = 'mist-test-token';
  orgId = 'a40f5d1f-d889-42e9-94ea-b9b33585fc6b';
  url = '';
  sites: Json[] = [];
  inventory: Json[] = [];
  stats: Json[] = [];
  /** By topic, in REST shape; searches return those whose `timestamp` (s) is within start..end. */
  alarms: Json[] = [];
  deviceEvents: Json[] = [];
  audits: Json[] = [];
  webhooks: Json[] = [];
  /** Mist's catalogues (`/api/v1/const/alarm_defs`, `/api/v1/const/device_events`). */
  alarmDefs: Json[] = [];
  deviceEventDefs: Json[] = [];
  deliveries = new Map<string, Json[]>();
  /** Webhooks of each site, by site id. */
  siteWebhooks = new Map<string, Json[]>();
  /** What a ping's delivery looks like in the log (the receiver's answer). */
  pingAnswer: Json = { status: 'success', status_code: 200, error: '' };
  /** The next N requests answer 429 with `Retry-After: retryAfterS`. */
  throttle = 0;
  retryAfterS = 1;
  /** The next N requests answer 503. */
  failing = 0;
  /** Each org this token sees (for /self). */
  visibleOrgs: string[] = [this.orgId];
  pings: string[] = [];
  readonly requests: Array<{ method: string; path: string; status: number }> = [];
  pageLimit = 2;
  #server: http.Server | null = null;

  async start(): Promise<this> {
    this.#server = http.createServer((req, res) => this.#handle(req, res));
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server!.address() as AddressInfo).port}`;
    return this;
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()) ?? resolve());
  }

  /** Requests to a path (prefix match, query ignored). */
  count(prefix: string): number {
    return this.requests.filter((r) => r.path.startsWith(prefix)).length;
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const url = new URL(req.url ?? '/', 'http://x');
    const send = (status: number, body: unknown, headers: Record<string, string> = {}): void => {
      this.requests.push({ method: req.method ?? 'GET', path: url.pathname, status });
      res.writeHead(status, { 'content-type': 'application/json', ...headers });
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Token ${this.token}`) return send(401, { detail: 'Authentication credentials were not provided.' });
    if (this.throttle > 0) {
      this.throttle--;
      return send(429, { detail: 'Request was throttled.' }, { 'retry-after': String(this.retryAfterS) });
    }
    if (this.failing > 0) {
      this.failing--;
      return send(503, { detail: 'unavailable' });
    }
    const org = `/api/v1/orgs/${this.orgId}`;
    const path = url.pathname;
    if (path === '/api/v1/self') return send(200, { ...(OPENAPI_EXAMPLES.self as Json), privileges: this.visibleOrgs.map((org_id) => ({ scope: 'org', org_id, role: 'read' })) });
    const paged = (items: Json[]): void => {
      const limit = Number(url.searchParams.get('limit')) ? Math.min(Number(url.searchParams.get('limit')), this.pageLimit) : this.pageLimit;
      const page = Number(url.searchParams.get('page')) || 1;
      send(200, items.slice((page - 1) * limit, page * limit), { 'x-page-total': String(items.length), 'x-page-limit': String(limit), 'x-page-page': String(page) });
    };
    if (path === '/api/v1/const/alarm_defs') return send(200, this.alarmDefs);
    if (path === '/api/v1/const/device_events') return send(200, this.deviceEventDefs);
    if (path === `${org}/sites`) return paged(this.sites);
    if (path === `${org}/inventory`) return paged(this.inventory);
    if (path === `${org}/stats/devices`) return paged(url.searchParams.get('type') === 'all' ? this.stats : this.stats.filter((s) => s.type === 'ap'));
    if (path === `${org}/webhooks`) return paged(this.webhooks);
    const siteHooks = /^\/api\/v1\/sites\/([^/]+)\/webhooks$/.exec(path);
    if (siteHooks) return paged(this.siteWebhooks.get(siteHooks[1]!) ?? []);
    const search = (items: Json[], time: (item: Json) => number): void => {
      const start = Number(url.searchParams.get('start'));
      const end = Number(url.searchParams.get('end'));
      const limit = Math.min(Number(url.searchParams.get('limit')) || this.pageLimit, this.pageLimit);
      const after = Number(url.searchParams.get('search_after') ?? 0);
      const within = items.filter((i) => time(i) >= start && time(i) <= end);
      const results = within.slice(after, after + limit);
      const next = after + limit < within.length ? `${path}?start=${start}&end=${end}&limit=${limit}&search_after=${after + limit}` : undefined;
      send(200, { start, end, limit, total: within.length, results, ...(next ? { next } : {}) });
    };
    if (path === `${org}/alarms/search`) return search(this.alarms, (a) => Number(a.timestamp));
    if (path === `${org}/devices/events/search`) return search(this.deviceEvents, (e) => Number(e.timestamp));
    if (path === `${org}/logs`) return search(this.audits, (a) => Number(a.timestamp));
    const delivery = /^\/api\/v1\/orgs\/[^/]+\/webhooks\/([^/]+)\/events\/search$/.exec(path);
    if (delivery) {
      if (!this.deliveries.has(delivery[1]!)) return send(404, { detail: 'Not found' });
      const status = url.searchParams.get('status');
      const topic = url.searchParams.get('topic');
      return search(this.deliveries.get(delivery[1]!)!.filter((d) => (!status || d.status === status) && (!topic || d.topic === topic)), (d) => Number(d.timestamp));
    }
    const ping = /^\/api\/v1\/orgs\/[^/]+\/webhooks\/([^/]+)\/ping$/.exec(path);
    if (ping && req.method === 'POST') {
      this.pings.push(ping[1]!);
      // Mist delivers the ping and logs the delivery.
      if (this.deliveries.has(ping[1]!)) this.deliveries.get(ping[1]!)!.push({ id: `ping-${this.pings.length}`, webhook_id: ping[1], topic: 'ping', timestamp: Date.now() / 1000, req_payload: '{"topic":"ping","events":[]}', ...this.pingAnswer });
      return send(200, {});
    }
    send(404, { detail: 'Not found' });
  }
}
