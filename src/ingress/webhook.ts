import type { IncomingMessage, ServerResponse } from 'node:http';
import { BlockList, isIP } from 'node:net';
import type { Bus } from '../bus/bus';
import { BusUnavailableError, MessageTooLargeError } from '../bus/bus';
import { LogThrottle } from '../shared/log-throttle';
import type { Logger } from '../shared/logger';
import type { Metrics } from '../shared/metrics';
import { readEnvelope } from './envelope';
import { verifyAuth, type AuthSettings } from './verify';

export interface WebhookDeps {
  bus: Bus;
  rawTopic: string;
  auth: AuthSettings;
  maxBodyBytes: number;
  /** More events in one body get 413 (MAX_EVENTS_PER_WEBHOOK). */
  maxEvents: number;
  timeoutMs: number;
  metrics: NonNullable<Metrics['ingress']>;
  logger: Logger;
  /** IP addresses or CIDR blocks allowed to post; null = any. */
  allowedSources?: readonly string[] | null;
  now?: () => number;
}

type Outcome = 'accepted' | 'bad_signature' | 'malformed' | 'too_large' | 'unsupported_media_type' | 'unavailable';

const JSON_TYPE = /^application\/([\w.+-]+\+)?json\s*(;|$)/i;

/**
 * POST /webhooks/mist (CONTRACT section 3). Answers 200 only after the raw body is durable on the
 * bus; every other outcome has its status, a JSON error and a counter. Plain node req/res, so the
 * hot path carries no framework middleware.
 */
export function webhookHandler(deps: WebhookDeps) {
  const now = deps.now ?? Date.now;
  const reply = (res: ServerResponse, status: number, outcome: Outcome, body: object, headers: Record<string, string> = {}): void => {
    deps.metrics.webhooks.inc({ outcome });
    const text = JSON.stringify(body);
    res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text), ...headers });
    res.end(text);
  };

  const allowed = deps.allowedSources ? sourceList(deps.allowedSources) : null;
  const throttle = new LogThrottle(deps.logger);

  return (req: IncomingMessage, res: ServerResponse): void => {
    if (allowed && !isAllowed(allowed, req.socket.remoteAddress)) {
      deps.logger.warn('webhook from a source outside MIST_SOURCE_ALLOW', { remote: req.socket.remoteAddress });
      return reply(res, 403, 'bad_signature', { error: 'source address not allowed' }, { connection: 'close' });
    }
    const declared = Number(req.headers['content-length']);
    if (Number.isFinite(declared) && declared > deps.maxBodyBytes) {
      return reply(res, 413, 'too_large', { error: `body larger than ${deps.maxBodyBytes} bytes` }, { connection: 'close' });
    }
    const contentType = req.headers['content-type'] ?? '';
    if (!JSON_TYPE.test(contentType)) {
      return reply(res, 415, 'unsupported_media_type', { error: 'content-type must be application/json' });
    }
    const encoding = (req.headers['content-encoding'] ?? 'identity').toLowerCase();
    if (encoding !== 'identity') {
      return reply(res, 415, 'unsupported_media_type', { error: `content-encoding ${encoding} is not supported; send identity` });
    }

    const chunks: Buffer[] = [];
    let size = 0;
    let tooLarge = false;
    req.on('data', (chunk: Buffer) => {
      if (tooLarge) return;
      size += chunk.length;
      if (size > deps.maxBodyBytes) {
        tooLarge = true;
        chunks.length = 0;
        reply(res, 413, 'too_large', { error: `body larger than ${deps.maxBodyBytes} bytes` }, { connection: 'close' });
        req.destroy();
        return;
      }
      chunks.push(chunk);
    });
    req.on('error', () => undefined);
    req.on('end', () => {
      if (tooLarge) return;
      void accept(req, res, chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, size));
    });
  };

  async function accept(req: IncomingMessage, res: ServerResponse, body: Buffer): Promise<void> {
    const receivedAt = now();
    const auth = await verifyAuth(req.headers, body, deps.auth);
    if (!auth.ok && auth.unavailable) {
      // The identity provider's keys cannot be fetched: nothing is wrong with the request itself.
      throttle.log('error', 'jwks', 'webhook not verified: the OAuth2 JWKS cannot be fetched', { reason: auth.reason });
      return reply(res, 503, 'unavailable', { error: 'cannot verify the token now; retry later' }, { 'retry-after': '10' });
    }
    if (!auth.ok) {
      throttle.log('warn', 'auth', 'webhook rejected', { reason: auth.reason, remote: req.socket.remoteAddress });
      return reply(res, 401, 'bad_signature', { error: auth.reason });
    }
    const envelope = readEnvelope(body);
    if (!envelope.ok) return reply(res, 400, 'malformed', { error: envelope.error });
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
        [{ key: envelope.key, value: body, headers: { received_at: String(receivedAt), content_type: req.headers['content-type'] ?? '', auth: auth.method } }],
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

function sourceList(sources: readonly string[]): BlockList {
  const list = new BlockList();
  for (const source of sources) {
    const [address, prefix] = source.split('/');
    const type = isIP(address!) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) list.addAddress(address!, type);
    else list.addSubnet(address!, Number(prefix), type);
  }
  return list;
}

function isAllowed(list: BlockList, remote: string | undefined): boolean {
  if (!remote) return false;
  // IPv4 clients of a dual-stack socket appear as ::ffff:a.b.c.d.
  const address = remote.startsWith('::ffff:') && isIP(remote.slice(7)) === 4 ? remote.slice(7) : remote;
  return list.check(address, isIP(address) === 6 ? 'ipv6' : 'ipv4');
}
