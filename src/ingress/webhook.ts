import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Bus } from '../bus/bus';
import { BusUnavailableError, MessageTooLargeError } from '../bus/bus';
import { LogThrottle } from '../shared/log-throttle';
import type { Logger } from '../shared/logger';
import type { Metrics } from '../shared/metrics';
import { readEnvelope } from './envelope';
import type { SourcePolicy } from './sources';
import { webhookPathTenant, type Tenant } from '../domain/webhook-path';
import type { SecretBook } from './secrets';
import { authenticate, checkSignature, type AuthSettings } from './verify';

export interface WebhookDeps {
  bus: Bus;
  rawTopic: string;
  /** The bearer checks; the HMAC secrets come from `secrets`, by the request's path. */
  auth: Omit<AuthSettings, 'secrets'>;
  secrets: SecretBook;
  maxBodyBytes: number;
  /** More events in one body get 413 (MAX_EVENTS_PER_WEBHOOK). */
  maxEvents: number;
  /** Bytes of bodies being read across connections at most (INGRESS_MAX_READING_BYTES). */
  maxReadingBytes: number;
  timeoutMs: number;
  metrics: NonNullable<Metrics['ingress']>;
  logger: Logger;
  /** MIST_SOURCE_ALLOW and TRUSTED_PROXIES. */
  sources: SourcePolicy;
  now?: () => number;
}

type Outcome = 'accepted' | 'bad_signature' | 'malformed' | 'too_large' | 'unsupported_media_type' | 'unavailable';

const JSON_TYPE = /^application\/([\w.+-]+\+)?json\s*(;|$)/i;

/**
 * POST /webhooks/mist and the tenant paths /webhooks/mist/<org_id>[/<site_id>] (CONTRACT section 3). Answers 200 only after the raw body is durable on the
 * bus; every other outcome has its status, a JSON error and a counter. Everything the headers can
 * decide (source, declared size, content type, bearer token) is decided before a byte of the body
 * is read, and the bytes being read are bounded across connections: bodies are read whole before
 * their signature can be checked, so an unauthenticated client must not be able to make the
 * ingress hold its uploads. Plain node req/res: the hot path carries no framework middleware.
 */
export function webhookHandler(deps: WebhookDeps) {
  const now = deps.now ?? Date.now;
  const throttle = new LogThrottle(deps.logger);
  let reading = 0;
  /** The request's tenant, by response: per-tenant counts (configured orgs by name, others `other`). */
  const tenants = new WeakMap<ServerResponse, Tenant>();
  const reply = (res: ServerResponse, status: number, outcome: Outcome, body: object, headers: Record<string, string> = {}): void => {
    deps.metrics.webhooks.inc({ outcome });
    const tenant = tenants.get(res);
    if (tenant) deps.metrics.tenantWebhooks.inc({ org_id: deps.secrets.orgs().has(tenant.orgId) ? tenant.orgId : 'other', outcome });
    if (outcome === 'accepted') deps.metrics.lastWebhook.set(now() / 1000);
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
    // An answer given before the body was read: the rest is discarded as it comes (never held), and
    // the connection is not closed under it: closing with unread data resets it, and the client
    // loses the answer with it. HTTP_REQUEST_TIMEOUT_MS still ends a body that never finishes.
    if (!res.req.complete) res.req.resume();
  };

  return async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const path = webhookPathTenant((req.url ?? '').split('?')[0]!);
    if (path === undefined) return reply(res, 404, 'malformed', { error: 'webhook paths: /webhooks/mist, /webhooks/mist/<org_id>, /webhooks/mist/<org_id>/<site_id>' });
    const tenant = path;
    if (tenant) tenants.set(res, tenant);
    const source = deps.sources.clientAddress(req.socket.remoteAddress, req.headers['x-forwarded-for']);
    if ('unparseable' in source) {
      throttle.log('warn', 'source', 'webhook refused: an X-Forwarded-For hop that is no address', { hop: source.unparseable });
      return reply(res, 403, 'bad_signature', { error: `X-Forwarded-For hop ${JSON.stringify(source.unparseable.slice(0, 64))} is not an address` });
    }
    const client = source.address;
    if (!deps.sources.allows(client)) {
      throttle.log('warn', 'source', 'webhook from a source outside MIST_SOURCE_ALLOW', { client });
      return reply(res, 403, 'bad_signature', { error: 'source address not allowed' });
    }
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > deps.maxBodyBytes) {
      return reply(res, 413, 'too_large', { error: `body larger than ${deps.maxBodyBytes} bytes` });
    }
    const contentType = req.headers['content-type'] ?? '';
    if (!JSON_TYPE.test(contentType)) {
      return reply(res, 415, 'unsupported_media_type', { error: 'content-type must be application/json' });
    }
    const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding !== 'identity') {
      return reply(res, 415, 'unsupported_media_type', { error: `content-encoding ${encoding} is not supported; send identity` });
    }
    const secrets = deps.secrets.forTenant(tenant);
    const plan = await authenticate(req.headers, { ...deps.auth, secrets });
    if (plan.ok === false) return refuse(res, plan, client);
    if (Number.isFinite(declared) && reading + declared > deps.maxReadingBytes) return busyReading(res);

    const body = await readBody(req, res, Number.isFinite(declared) ? declared : 0);
    if (!body) return;
    const auth = plan.ok === 'signature' ? checkSignature(plan, body, secrets) : plan;
    if (auth.ok === false) return refuse(res, auth, client);
    await accept(req, res, body, auth.method, tenant);
  };

  function refuse(res: ServerResponse, auth: { reason: string; unavailable?: boolean }, client: string | undefined): void {
    if (auth.unavailable) {
      // The identity provider's keys cannot be fetched: nothing is wrong with the request itself.
      throttle.log('error', 'jwks', 'webhook not verified: the OAuth2 JWKS cannot be fetched', { reason: auth.reason });
      return reply(res, 503, 'unavailable', { error: 'cannot verify the token now; retry later' }, { 'retry-after': '10' });
    }
    throttle.log('warn', 'auth', 'webhook rejected', { reason: auth.reason, client });
    return reply(res, 401, 'bad_signature', { error: auth.reason });
  }

  function busyReading(res: ServerResponse): void {
    throttle.log('warn', 'reading', 'webhook refused: INGRESS_MAX_READING_BYTES of bodies are being read', { reading });
    reply(res, 503, 'unavailable', { error: 'too many uploads in progress; retry later' }, { 'retry-after': '2' });
  }

  /** The whole body, counted against the reading bound while it arrives; null once an answer was given. */
  function readBody(req: IncomingMessage, res: ServerResponse, reserved: number): Promise<Buffer | null> {
    reading += reserved;
    let held = reserved;
    let released = false;
    const release = (): void => {
      if (released) return;
      released = true;
      reading -= held;
    };
    return new Promise((resolve) => {
      const chunks: Buffer[] = [];
      let size = 0;
      const stop = (answer: () => void): void => {
        release();
        chunks.length = 0;
        answer();
        resolve(null);
      };
      req.on('data', (chunk: Buffer) => {
        if (released) return;
        size += chunk.length;
        if (size > held) {
          reading += size - held;
          held = size;
        }
        if (size > deps.maxBodyBytes) return stop(() => reply(res, 413, 'too_large', { error: `body larger than ${deps.maxBodyBytes} bytes` }));
        if (reading > deps.maxReadingBytes) return stop(() => busyReading(res));
        chunks.push(chunk);
      });
      req.on('error', () => undefined);
      req.on('close', () => {
        if (!released && !req.complete) {
          release();
          resolve(null);
        }
      });
      req.on('end', () => {
        if (released) return;
        release();
        resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
      });
    });
  }

  async function accept(req: IncomingMessage, res: ServerResponse, body: Buffer, method: string, tenant: Tenant | null): Promise<void> {
    const receivedAt = now();
    const envelope = readEnvelope(body, tenant);
    if (!envelope.ok) {
      if (envelope.forbidden) {
        throttle.log('warn', 'tenant', 'webhook refused: an event of another tenant than its path', { reason: envelope.error });
        return reply(res, 403, 'bad_signature', { error: envelope.error });
      }
      return reply(res, 400, 'malformed', { error: envelope.error });
    }
    if (envelope.eventCount > deps.maxEvents) {
      return reply(res, 413, 'too_large', { error: `${envelope.eventCount} events in one body; at most ${deps.maxEvents} (MAX_EVENTS_PER_WEBHOOK)` });
    }

    const writable = deps.bus.writable();
    if (!writable.ok) {
      return reply(res, 503, 'unavailable', { error: `not accepting webhooks: ${writable.reason}` }, { 'retry-after': String(writable.retryAfterS) });
    }
    try {
      await deps.bus.produce(
        deps.rawTopic,
        [{ key: envelope.key, value: body, headers: { received_at: String(receivedAt), content_type: req.headers['content-type'] ?? '', auth: method, ...(tenant ? { tenant_org_id: tenant.orgId } : {}) } }],
        { timeoutMs: deps.timeoutMs },
      );
    } catch (err) {
      if (err instanceof MessageTooLargeError) {
        deps.logger.warn('webhook refused by the broker as too large', { bytes: body.length, topic: envelope.topic });
        return reply(res, 413, 'too_large', { error: 'body larger than the broker accepts (see mistbridge topics: max.message.bytes)' });
      }
      const retryAfter = err instanceof BusUnavailableError ? err.retryAfterS : 5;
      throttle.log('error', 'store', 'webhook not stored', { error: (err as Error).message, topic: envelope.topic });
      return reply(res, 503, 'unavailable', { error: 'webhook could not be stored; retry later' }, { 'retry-after': String(retryAfter) });
    }
    throttle.reset('store');
    reply(res, 200, 'accepted', { accepted: envelope.eventCount });
  }
}
