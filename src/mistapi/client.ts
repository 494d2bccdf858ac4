import type { MistApiConfig } from '../config/config';
import { AbortError, sleep as defaultSleep } from '../shared/backoff';
import type { Logger } from '../shared/logger';
import { LogThrottle } from '../shared/log-throttle';
import type { Metrics } from '../shared/metrics';
import { PermanentError, RetryableError, retrying } from '../shared/retry';
import { RequestBudget } from './budget';

/** The endpoints of CONTRACT section 8, as `mistbridge_mist_api_requests_total` names them. */
export type Endpoint =
  | 'self'
  | 'sites'
  | 'inventory'
  | 'device_stats'
  | 'alarms_search'
  | 'device_events_search'
  | 'audit_logs'
  | 'webhooks'
  | 'webhook_deliveries'
  | 'webhook_ping'
  | 'const_alarm_defs'
  | 'const_device_events';

/** The token is refused (401) or lacks the privilege (403): only an operator can fix it. */
export class MistAuthError extends PermanentError {
  constructor(
    message: string,
    readonly status: number,
  ) {
    super(message, 'mist_api_auth');
    this.name = 'MistAuthError';
  }
}

/** Not there (404): a webhook without a delivery log, an org the token cannot see. */
export class MistNotFoundError extends PermanentError {
  constructor(message: string) {
    super(message, 'mist_api_not_found');
    this.name = 'MistNotFoundError';
  }
}

export interface ClientOptions {
  config: MistApiConfig;
  logger: Logger;
  metrics: Metrics;
  now: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  /** One request's timeout. */
  timeoutMs?: number;
  /** How long a pass keeps retrying one request (429, 5xx, network) before it gives up until the next pass. */
  retryLimitMs?: number;
}

const PAGE_LIMIT = 1000;

/**
 * Plain HTTPS to the org's Mist cloud: `Authorization: Token <token>` (never logged), one timeout
 * per request, 429 with Retry-After and 5xx/network errors through the project's one retry
 * mechanism (for at most `retryLimitMs`, then the pass gives up until the next), and a request
 * budget per hour that every request waits for.
 */
export class MistApiClient {
  readonly #budget: RequestBudget;
  readonly #throttle: LogThrottle;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(private readonly options: ClientOptions) {
    this.#budget = new RequestBudget(options.config.maxRequestsPerHour);
    this.#throttle = new LogThrottle(options.logger, 60_000, options.now);
    this.#sleep = options.sleep ?? defaultSleep;
  }

  /** GET a path (with query) and parse its JSON: the body and the response headers. */
  async get<T>(endpoint: Endpoint, path: string, signal?: AbortSignal): Promise<{ body: T; headers: Headers }> {
    return this.#request<T>(endpoint, 'GET', path, signal);
  }

  async post<T>(endpoint: Endpoint, path: string, signal?: AbortSignal): Promise<T> {
    return (await this.#request<T>(endpoint, 'POST', path, signal)).body;
  }

  /** A list endpoint paged with `page` and `limit` (X-Page-Total / X-Page-Limit headers). */
  async pages<T>(endpoint: Endpoint, path: string, signal?: AbortSignal): Promise<T[]> {
    const out: T[] = [];
    for (let page = 1; ; page++) {
      const { body, headers } = await this.get<T[]>(endpoint, withQuery(path, { limit: PAGE_LIMIT, page }), signal);
      out.push(...body);
      const total = Number(headers.get('x-page-total'));
      const limit = Number(headers.get('x-page-limit')) || PAGE_LIMIT;
      if (body.length < limit || (Number.isFinite(total) && total > 0 && out.length >= total) || body.length === 0) return out;
    }
  }

  /** A search endpoint (`start`/`end`/`limit`, then `next` until there is none). */
  async search<T>(endpoint: Endpoint, path: string, startS: number, endS: number, signal?: AbortSignal): Promise<T[]> {
    const out: T[] = [];
    let next: string | undefined = withQuery(path, { start: Math.floor(startS), end: Math.ceil(endS), limit: PAGE_LIMIT });
    while (next) {
      const { body }: { body: { results?: T[]; next?: string } } = await this.get<{ results?: T[]; next?: string }>(endpoint, next, signal);
      out.push(...(body.results ?? []));
      next = body.next && body.next !== next && (body.results?.length ?? 0) > 0 ? body.next : undefined;
    }
    return out;
  }

  async #request<T>(endpoint: Endpoint, method: string, path: string, signal?: AbortSignal): Promise<{ body: T; headers: Headers }> {
    const { config, metrics, now } = this.options;
    const counter = metrics.mistApi!.requests;
    return retrying(
      async () => {
        for (let wait = this.#budget.take(now()); wait > 0; wait = this.#budget.take(now())) {
          this.#throttle.log('warn', 'budget', 'Mist API request budget spent: waiting', { waitMs: wait, perHour: config.maxRequestsPerHour });
          await this.#sleep(Math.min(wait, 60_000), signal);
        }
        let response: Response;
        try {
          response = await fetch(`${config.baseUrl}${path}`, {
            method,
            headers: { authorization: `Token ${config.token}`, accept: 'application/json' },
            signal: anySignal(signal, AbortSignal.timeout(this.options.timeoutMs ?? 30_000)),
          });
        } catch (err) {
          if (signal?.aborted) throw new AbortError();
          counter.inc({ endpoint, status: 'error' });
          throw new RetryableError(`Mist API ${endpoint}: ${(err as Error).message}`);
        }
        counter.inc({ endpoint, status: String(response.status) });
        const text = await response.text();
        if (response.ok) return { body: (text ? JSON.parse(text) : null) as T, headers: response.headers };
        const detail = `Mist API ${method} ${path.split('?')[0]}: HTTP ${response.status} ${text.slice(0, 200)}`;
        if (response.status === 401 || response.status === 403) throw new MistAuthError(detail, response.status);
        if (response.status === 404) throw new MistNotFoundError(detail);
        if (response.status === 429 || response.status >= 500) throw new RetryableError(detail, retryAfterMs(response.headers.get('retry-after')), { limitMs: this.options.retryLimitMs ?? 600_000, reason: 'mist_api_unavailable' });
        throw new PermanentError(detail, 'mist_api_refused');
      },
      {
        baseMs: 1000,
        capMs: 60_000,
        signal,
        now,
        sleep: this.#sleep,
        onRetry: (error, attempt, waitMs) => this.#throttle.log('warn', `retry:${endpoint}`, 'Mist API request will be retried', { endpoint, reason: error.message, attempt, waitMs }),
      },
    );
  }
}

export function withQuery(path: string, query: Record<string, string | number>): string {
  const params = new URLSearchParams(Object.entries(query).map(([k, v]): [string, string] => [k, String(v)]));
  return `${path}${path.includes('?') ? '&' : '?'}${params}`;
}

function retryAfterMs(header: string | null): number | null {
  if (!header) return null;
  const seconds = Number(header);
  if (Number.isFinite(seconds)) return Math.max(0, seconds * 1000);
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}

function anySignal(...signals: Array<AbortSignal | undefined>): AbortSignal {
  return AbortSignal.any(signals.filter((s): s is AbortSignal => s !== undefined));
}
