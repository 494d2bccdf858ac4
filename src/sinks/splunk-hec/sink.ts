import { randomUUID } from 'node:crypto';
import type { SplunkConfig } from '../../config/config';
import { AbortError, backoffMs, sleep } from '../../shared/backoff';
import type { Logger } from '../../shared/logger';
import type { Metrics } from '../../shared/metrics';
import type { HecClient } from './client';
import { planRequests, requestBody } from './request';
import { classifyHecResponse, type HecVerdict } from './response';

export const EVENT_PATH = '/services/collector/event';
export const ACK_PATH = '/services/collector/ack';
const UNKNOWN_REPLY_LIMIT = 5;

export interface Rejection {
  index: number;
  reason: string;
  error: string;
}

interface Request {
  indices: number[];
  attempt: number;
  unknownReplies: number;
}

interface PendingAck {
  ackId: number;
  indices: number[];
  sentAt: number;
}

export interface SinkStatus {
  paused: boolean;
  reason: string | null;
  since: number | null;
}

/**
 * Delivers envelopes to HEC until each is indexed or permanently refused: retries with full-jitter
 * backoff (honouring Retry-After), splits at `invalid-event-number` and at 413, pauses without
 * dropping anything while Splunk refuses the token, and with indexer acknowledgement counts a
 * request delivered only once Splunk confirms it. Returns the refused envelopes for the DLQ.
 */
export class HecSink {
  readonly channel = randomUUID();
  #status: SinkStatus = { paused: false, reason: null, since: null };

  constructor(
    private readonly config: SplunkConfig,
    private readonly client: HecClient,
    private readonly metrics: NonNullable<Metrics['hec']>,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {}

  status(): SinkStatus {
    return { ...this.#status };
  }

  async deliver(envelopes: readonly string[], signal: AbortSignal): Promise<Rejection[]> {
    const rejected: Rejection[] = [];
    const sizes = envelopes.map((e) => Buffer.byteLength(e));
    const queue: Request[] = planRequests(sizes, this.config.batchMaxEvents, this.config.batchMaxBytes).map((indices) => ({
      indices,
      attempt: 0,
      unknownReplies: 0,
    }));
    const pending: PendingAck[] = [];
    const reject = (indices: number[], reason: string, error: string): void => {
      for (const index of indices) rejected.push({ index, reason, error });
      this.metrics.events.inc({ outcome: 'rejected' }, indices.length);
    };

    while (queue.length > 0 || pending.length > 0) {
      if (signal.aborted) throw new AbortError();
      const request = queue[0];
      if (!request) {
        await this.#pollAcks(pending, queue, signal);
        continue;
      }
      const verdict = await this.#send(request.indices.map((i) => envelopes[i]!), signal);
      if (verdict.kind !== 'pause' && this.#status.paused) this.#resume();
      switch (verdict.kind) {
        case 'ok':
          queue.shift();
          if (verdict.ackId !== null && this.config.ack) pending.push({ ackId: verdict.ackId, indices: request.indices, sentAt: this.now() });
          else this.metrics.events.inc({ outcome: 'delivered' }, request.indices.length);
          break;
        case 'retry':
          this.metrics.events.inc({ outcome: 'retried' }, request.indices.length);
          this.logger.warn('HEC request will be retried', { reason: verdict.reason, events: request.indices.length, attempt: request.attempt });
          await sleep(verdict.retryAfterMs ?? backoffMs(request.attempt++, 500, this.config.retryMaxMs), signal);
          break;
        case 'pause':
          this.#pause(`HEC code ${verdict.code}: ${verdict.text}`);
          await sleep(this.config.retryMaxMs, signal);
          break;
        case 'too_large':
          queue.shift();
          if (request.indices.length === 1) reject(request.indices, 'hec_too_large', 'HEC answered 413 for a single event');
          else {
            const half = Math.ceil(request.indices.length / 2);
            queue.unshift(fresh(request.indices.slice(0, half)), fresh(request.indices.slice(half)));
          }
          break;
        case 'partial': {
          queue.shift();
          const bad = request.indices[verdict.index];
          if (bad === undefined) {
            reject(request.indices, 'hec_rejected', `HEC code ${verdict.code}: ${verdict.text} (invalid-event-number ${verdict.index} out of range)`);
            break;
          }
          reject([bad], 'hec_rejected', `HEC code ${verdict.code}: ${verdict.text}`);
          const before = request.indices.slice(0, verdict.index);
          const after = request.indices.slice(verdict.index + 1);
          if (verdict.processedBefore) this.metrics.events.inc({ outcome: 'delivered' }, before.length);
          const again = verdict.processedBefore ? after : [...before, ...after];
          if (again.length > 0) queue.unshift(fresh(again));
          break;
        }
        case 'reject':
          queue.shift();
          reject(request.indices, 'hec_rejected', `HEC code ${verdict.code}: ${verdict.text}`);
          break;
        case 'unknown':
          // Proxies answer 404/502 with HTML while Splunk restarts: retry a few times before giving up.
          if (++request.unknownReplies >= UNKNOWN_REPLY_LIMIT) {
            queue.shift();
            reject(request.indices, 'hec_rejected', `HTTP ${verdict.status} without a HEC body: ${verdict.text}`);
          } else {
            this.metrics.events.inc({ outcome: 'retried' }, request.indices.length);
            await sleep(backoffMs(request.attempt++, 500, this.config.retryMaxMs), signal);
          }
          break;
      }
    }
    return rejected;
  }

  async #send(envelopes: string[], signal: AbortSignal): Promise<HecVerdict> {
    const headers: Record<string, string> = {};
    if (this.config.gzip) headers['content-encoding'] = 'gzip';
    if (this.config.ack) headers['x-splunk-request-channel'] = this.channel;
    const started = performance.now();
    try {
      const reply = await this.client.post(EVENT_PATH, requestBody(envelopes, this.config.gzip), headers, signal);
      this.metrics.duration.observe({ status: String(reply.status) }, (performance.now() - started) / 1000);
      return classifyHecResponse(reply.status, reply.headers, reply.body);
    } catch (err) {
      if (signal.aborted) throw new AbortError();
      this.metrics.duration.observe({ status: 'error' }, (performance.now() - started) / 1000);
      return { kind: 'retry', reason: (err as Error).message, retryAfterMs: null };
    }
  }

  /** One ack poll for every pending request; confirmed ones are delivered, long-unconfirmed ones go again. */
  async #pollAcks(pending: PendingAck[], queue: Request[], signal: AbortSignal): Promise<void> {
    await sleep(this.config.ackPollMs, signal);
    let acks: Record<string, boolean> = {};
    try {
      const body = Buffer.from(JSON.stringify({ acks: pending.map((p) => p.ackId) }));
      const reply = await this.client.post(`${ACK_PATH}?channel=${this.channel}`, body, { 'x-splunk-request-channel': this.channel }, signal);
      if (reply.status === 200) acks = (JSON.parse(reply.body) as { acks?: Record<string, boolean> }).acks ?? {};
      else this.logger.warn('HEC ack poll failed', { status: reply.status, body: reply.body.slice(0, 200) });
    } catch (err) {
      if (signal.aborted) throw new AbortError();
      this.logger.warn('HEC ack poll failed', { error: (err as Error).message });
    }
    const now = this.now();
    for (let i = pending.length - 1; i >= 0; i--) {
      const entry = pending[i]!;
      if (acks[String(entry.ackId)] === true) {
        pending.splice(i, 1);
        this.metrics.events.inc({ outcome: 'delivered' }, entry.indices.length);
      } else if (now - entry.sentAt >= this.config.ackTimeoutMs) {
        // Splunk forgets acks it never confirmed: treat the request as lost and send it again.
        pending.splice(i, 1);
        this.metrics.events.inc({ outcome: 'retried' }, entry.indices.length);
        queue.push(fresh(entry.indices));
      }
    }
  }

  #pause(reason: string): void {
    if (!this.#status.paused) this.logger.error('HEC sink paused: Splunk refuses the token or channel; nothing is dropped', { reason });
    this.#status = { paused: true, reason, since: this.#status.since ?? this.now() };
    this.metrics.paused.set(1);
  }

  #resume(): void {
    this.logger.info('HEC sink resumed');
    this.#status = { paused: false, reason: null, since: null };
    this.metrics.paused.set(0);
  }
}

function fresh(indices: number[]): Request {
  return { indices, attempt: 0, unknownReplies: 0 };
}
