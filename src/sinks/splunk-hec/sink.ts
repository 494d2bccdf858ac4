import { randomUUID } from 'node:crypto';
import type { SplunkConfig } from '../../config/config';
import type { DlqReason } from '../../dlq/reasons';
import { AbortError, sleep as defaultSleep } from '../../shared/backoff';
import type { Logger } from '../../shared/logger';
import { LogThrottle } from '../../shared/log-throttle';
import type { Metrics } from '../../shared/metrics';
import { PauseError, PermanentError, RetryableError, retrying } from '../../shared/retry';
import type { HecTransport } from './client';
import { planRequests, requestBody } from './request';
import { classifyHecResponse, type HecVerdict } from './response';

export const EVENT_PATH = '/services/collector/event';
export const ACK_PATH = '/services/collector/ack';

export interface Rejection {
  index: number;
  reason: DlqReason<'splunk'>;
  error: string;
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

/** What the sink's waits and clock are; tests pass their own. */
export interface SinkTiming {
  now?: () => number;
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
}

type Final = Exclude<HecVerdict, { kind: 'retry' | 'pause' | 'unknown' }>;

/**
 * Delivers envelopes to HEC until each is indexed or permanently refused: retries through the one
 * retry mechanism (full-jitter backoff, Retry-After, every wait capped at SPLUNK_HEC_RETRY_MAX_MS),
 * splits at `invalid-event-number` and at 413, pauses without dropping anything while Splunk refuses
 * the token, gives proxy answers SPLUNK_HEC_PROXY_RETRY_S before dead-lettering them, and with
 * indexer acknowledgement counts a request delivered only once Splunk confirms it. Returns the
 * refused envelopes for the DLQ.
 */
export class HecSink {
  readonly channel = randomUUID();
  #status: SinkStatus = { paused: false, reason: null, since: null };
  readonly #throttle: LogThrottle;
  readonly #now: () => number;
  readonly #sleep: (ms: number, signal?: AbortSignal) => Promise<void>;

  constructor(
    private readonly config: SplunkConfig,
    private readonly client: HecTransport,
    private readonly metrics: NonNullable<Metrics['hec']>,
    private readonly logger: Logger,
    timing: SinkTiming = {},
  ) {
    this.#now = timing.now ?? Date.now;
    this.#sleep = timing.sleep ?? defaultSleep;
    this.#throttle = new LogThrottle(logger, 60_000, this.#now);
  }

  status(): SinkStatus {
    return { ...this.#status };
  }

  async deliver(envelopes: readonly string[], signal: AbortSignal): Promise<Rejection[]> {
    const rejected: Rejection[] = [];
    const sizes = envelopes.map((e) => Buffer.byteLength(e));
    const queue: number[][] = planRequests(sizes, this.config.batchMaxEvents, this.config.batchMaxBytes);
    const pending: PendingAck[] = [];
    const reject = (indices: number[], reason: DlqReason<'splunk'>, error: string): void => {
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
      let verdict: Final;
      try {
        verdict = await this.#deliverOne(request.map((i) => envelopes[i]!), signal);
      } catch (err) {
        if (!(err instanceof PermanentError)) throw err;
        queue.shift();
        // The retry mechanism gives up only on reasons this sink gave it (proxy_error).
        reject(request, err.reason as DlqReason<'splunk'>, err.message);
        continue;
      }
      queue.shift();
      switch (verdict.kind) {
        case 'ok':
          if (verdict.ackId !== null && this.config.ack) pending.push({ ackId: verdict.ackId, indices: request, sentAt: this.#now() });
          else this.metrics.events.inc({ outcome: 'delivered' }, request.length);
          break;
        case 'too_large':
          if (request.length === 1) reject(request, 'hec_too_large', 'HEC answered 413 for a single event');
          else {
            const half = Math.ceil(request.length / 2);
            queue.unshift(request.slice(0, half), request.slice(half));
          }
          break;
        case 'partial': {
          const bad = request[verdict.index];
          if (bad === undefined) {
            reject(request, 'hec_rejected', `HEC code ${verdict.code}: ${verdict.text} (invalid-event-number ${verdict.index} out of range)`);
            break;
          }
          reject([bad], 'hec_rejected', `HEC code ${verdict.code}: ${verdict.text}`);
          const before = request.slice(0, verdict.index);
          const after = request.slice(verdict.index + 1);
          if (verdict.processedBefore) this.metrics.events.inc({ outcome: 'delivered' }, before.length);
          // Code 6 stops at the bad envelope after indexing those before it; otherwise they go again (same event_ids).
          const again = verdict.processedBefore ? after : [...before, ...after];
          if (again.length > 0) queue.unshift(again);
          break;
        }
        case 'reject':
          reject(request, 'hec_rejected', `HEC code ${verdict.code}: ${verdict.text}`);
          break;
      }
    }
    return rejected;
  }

  /** One request until HEC gives a final answer for it; the retryable answers become errors for `retrying`. */
  #deliverOne(envelopes: string[], signal: AbortSignal): Promise<Final> {
    return retrying(
      async () => {
        const verdict = await this.#send(envelopes, signal);
        switch (verdict.kind) {
          case 'retry':
            throw new RetryableError(verdict.reason, verdict.retryAfterMs);
          case 'pause':
            this.#pause(`HEC code ${verdict.code}: ${verdict.text}`);
            throw new PauseError(`HEC code ${verdict.code}: ${verdict.text}`);
          case 'unknown':
            throw new RetryableError(`HTTP ${verdict.status} without a HEC body (a proxy?): ${verdict.text}`, verdict.retryAfterMs, {
              limitMs: this.config.proxyRetryMs,
              reason: 'proxy_error',
            });
          default:
            if (this.#status.paused) this.#resume();
            this.#throttle.reset('retry');
            return verdict;
        }
      },
      {
        baseMs: 500,
        capMs: this.config.retryMaxMs,
        signal,
        now: this.#now,
        sleep: this.#sleep,
        onRetry: (error, attempt, waitMs) => {
          this.metrics.events.inc({ outcome: 'retried' }, envelopes.length);
          if (!(error instanceof PauseError)) this.#throttle.log('warn', 'retry', 'HEC request will be retried', { reason: error.message, events: envelopes.length, attempt, retryInMs: waitMs });
        },
      },
    );
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
  async #pollAcks(pending: PendingAck[], queue: number[][], signal: AbortSignal): Promise<void> {
    await this.#sleep(this.config.ackPollMs, signal);
    let acks: Record<string, boolean> = {};
    // A failed poll is a retry of the events it asks about: counted as such (an outage of the ack
    // endpoint used to look like nothing happening at all).
    const failed = (details: Record<string, unknown>): void => {
      this.metrics.events.inc({ outcome: 'retried' }, pending.reduce((sum, p) => sum + p.indices.length, 0));
      this.#throttle.log('warn', 'ack', 'HEC ack poll failed', details);
    };
    try {
      const body = Buffer.from(JSON.stringify({ acks: pending.map((p) => p.ackId) }));
      const reply = await this.client.post(`${ACK_PATH}?channel=${this.channel}`, body, { 'x-splunk-request-channel': this.channel }, signal);
      if (reply.status === 200) acks = (JSON.parse(reply.body) as { acks?: Record<string, boolean> }).acks ?? {};
      else failed({ status: reply.status, body: reply.body.slice(0, 200) });
    } catch (err) {
      if (signal.aborted) throw new AbortError();
      failed({ error: (err as Error).message });
    }
    const now = this.#now();
    for (let i = pending.length - 1; i >= 0; i--) {
      const entry = pending[i]!;
      if (acks[String(entry.ackId)] === true) {
        pending.splice(i, 1);
        this.metrics.events.inc({ outcome: 'delivered' }, entry.indices.length);
      } else if (now - entry.sentAt >= this.config.ackTimeoutMs) {
        // Splunk forgets acks it never confirmed: treat the request as lost and send it again.
        pending.splice(i, 1);
        this.metrics.events.inc({ outcome: 'retried' }, entry.indices.length);
        queue.push(entry.indices);
      }
    }
  }

  #pause(reason: string): void {
    if (!this.#status.paused) this.logger.error('HEC sink paused: Splunk refuses the token or channel; nothing is dropped', { reason });
    this.#status = { paused: true, reason, since: this.#status.since ?? this.#now() };
    this.metrics.paused.set(1);
  }

  #resume(): void {
    this.logger.info('HEC sink resumed');
    this.#status = { paused: false, reason: null, since: null };
    this.metrics.paused.set(0);
  }
}
