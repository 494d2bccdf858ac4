import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { gunzipSync } from 'node:zlib';

export interface HecEnvelope {
  time: number;
  host: string;
  source: string;
  sourcetype: string;
  index?: string;
  event: Record<string, unknown>;
  fields: Record<string, string>;
}

/** A scripted answer: HTTP status plus HEC body; `invalidAt` adds `invalid-event-number`. */
export interface Reply {
  status: number;
  code: number;
  text: string;
  invalidAt?: number;
  headers?: Record<string, string>;
}

export const HEC_REPLIES = {
  busy: { status: 503, code: 9, text: 'Server is busy' },
  internal: { status: 500, code: 8, text: 'Internal server error' },
  invalidToken: { status: 403, code: 4, text: 'Invalid token' },
  tokenDisabled: { status: 403, code: 1, text: 'Token disabled' },
  throttled: { status: 429, code: 26, text: 'HEC queue is at capacity', headers: { 'retry-after': '1' } },
  invalidFormat: (at: number): Reply => ({ status: 400, code: 6, text: 'Invalid data format', invalidAt: at }),
  incorrectIndex: (at: number): Reply => ({ status: 400, code: 7, text: 'Incorrect index', invalidAt: at }),
} as const;

/**
 * A loopback Splunk HEC speaking the real protocol (splunk-hec.md): `Authorization: Splunk <token>`,
 * back-to-back JSON envelopes (gzip or not), `{"text","code"}` replies, channels and ackIds,
 * `/services/collector/ack`. Scripted replies come first; otherwise events are indexed.
 */
export class FakeHec {
  readonly indexed: HecEnvelope[] = [];
  readonly requests: Array<{ status: number; events: number; gzip: boolean; channel: string | undefined }> = [];
  readonly script: Reply[] = [];
  /** When set, every request gets this reply until cleared (an outage). */
  down: Reply | null = null;
  /** Acks stay pending until released. */
  holdAcks = false;
  /** Envelopes this refuses are answered like Splunk answers a bad one (code 6 at its index), once each. */
  refuseOnce: ((envelope: HecEnvelope) => boolean) | null = null;
  /** Every answer waits this long (a slow Splunk). */
  delayMs = 0;
  #nextAck = 0;
  readonly #pendingAcks = new Map<number, HecEnvelope[]>();
  readonly #confirmed = new Set<number>();
  #server: http.Server | null = null;

  constructor(readonly token = 'hec-test-token') {}

  get url(): string {
    return `http://127.0.0.1:${(this.#server!.address() as AddressInfo).port}`;
  }

  async start(): Promise<this> {
    this.#server = http.createServer((req, res) => this.#handle(req, res));
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()) ?? resolve());
  }

  /** Confirms every pending ack (indexes their events). */
  releaseAcks(): void {
    for (const [id, envelopes] of this.#pendingAcks) {
      this.indexed.push(...envelopes);
      this.#confirmed.add(id);
    }
    this.#pendingAcks.clear();
  }

  /** Indexed normalized events (incident writes left out). */
  events(): HecEnvelope[] {
    return this.indexed.filter((e) => e.sourcetype !== 'juniper:mist:incident');
  }

  /** Indexed incident writes. */
  incidents(): HecEnvelope[] {
    return this.indexed.filter((e) => e.sourcetype === 'juniper:mist:incident');
  }

  eventIds(): string[] {
    return this.events().map((e) => e.event.event_id as string);
  }

  /** Whether every one of these event_ids has been indexed. */
  hasAll(ids: readonly string[]): boolean {
    const indexed = new Set(this.eventIds());
    return ids.every((id) => indexed.has(id));
  }

  #handle(req: http.IncomingMessage, res: http.ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const send = (status: number, body: object, headers: Record<string, string> = {}): void => {
        setTimeout(() => {
          if (res.destroyed) return;
          res.writeHead(status, { 'content-type': 'application/json', ...headers });
          res.end(JSON.stringify(body));
        }, this.delayMs);
      };
      const auth = req.headers.authorization;
      if (!auth) return send(401, { text: 'Token is required', code: 2 });
      if (!auth.startsWith('Splunk ')) return send(401, { text: 'Invalid authorization', code: 3 });
      if (auth !== `Splunk ${this.token}`) return send(403, { text: 'Invalid token', code: 4 });
      const channel = req.headers['x-splunk-request-channel'] as string | undefined;
      const url = new URL(req.url ?? '/', 'http://x');

      if (url.pathname === '/services/collector/ack') {
        const { acks } = JSON.parse(Buffer.concat(chunks).toString()) as { acks: number[] };
        return send(200, { acks: Object.fromEntries(acks.map((id) => [String(id), this.#confirmed.delete(id)])) });
      }
      if (url.pathname !== '/services/collector/event') return send(404, { text: 'The requested URL was not found on this server.', code: 404 });

      let raw = Buffer.concat(chunks);
      const gzip = req.headers['content-encoding'] === 'gzip';
      if (gzip) raw = gunzipSync(raw);
      let envelopes: HecEnvelope[];
      try {
        envelopes = parseStream(raw.toString('utf8'));
      } catch {
        this.requests.push({ status: 400, events: 0, gzip, channel });
        return send(400, { text: 'Invalid data format', code: 6, 'invalid-event-number': 0 });
      }
      if (envelopes.length === 0) return send(400, { text: 'No data', code: 5 });
      // An outage answers first: the refusal waits for a request that reaches Splunk.
      const refused = this.refuseOnce && !this.down ? envelopes.findIndex(this.refuseOnce) : -1;
      if (refused >= 0) this.refuseOnce = null;
      const reply = this.down ?? (refused >= 0 ? HEC_REPLIES.invalidFormat(refused) : this.script.shift());
      if (reply) {
        this.requests.push({ status: reply.status, events: envelopes.length, gzip, channel });
        const body: Record<string, unknown> = { text: reply.text, code: reply.code };
        if (reply.invalidAt !== undefined) {
          body['invalid-event-number'] = reply.invalidAt;
          // Splunk indexes the envelopes before the bad one (code 6).
          if (reply.code === 6) this.indexed.push(...envelopes.slice(0, reply.invalidAt));
        }
        return send(reply.status, body, reply.headers);
      }
      this.requests.push({ status: 200, events: envelopes.length, gzip, channel });
      if (channel) {
        const ackId = this.#nextAck++;
        if (this.holdAcks) this.#pendingAcks.set(ackId, envelopes);
        else {
          this.indexed.push(...envelopes);
          this.#confirmed.add(ackId);
        }
        return send(200, { text: 'Success', code: 0, ackId });
      }
      this.indexed.push(...envelopes);
      send(200, { text: 'Success', code: 0 });
    });
  }
}

/** Envelopes back to back, with or without whitespace between them (HEC's batch format). */
export function parseStream(text: string): HecEnvelope[] {
  const out: HecEnvelope[] = [];
  let depth = 0;
  let start = -1;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (inString) {
      if (ch === '\\') i++;
      else if (ch === '"') inString = false;
      continue;
    }
    if (ch === '"') inString = true;
    else if (ch === '{') {
      if (depth++ === 0) start = i;
    } else if (ch === '}') {
      if (--depth === 0) out.push(JSON.parse(text.slice(start, i + 1)) as HecEnvelope);
    } else if (depth === 0 && !/\s/.test(ch!)) throw new Error(`unexpected ${ch} at ${i}`);
  }
  if (depth !== 0) throw new Error('truncated envelope');
  return out;
}
