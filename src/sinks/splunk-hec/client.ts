import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import type { SplunkConfig } from '../../config/config';

export interface HecReply {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

/** What the sink needs of HTTP: one POST. */
export interface HecTransport {
  post(path: string, body: Buffer, headers: Record<string, string>, signal?: AbortSignal): Promise<HecReply>;
}

/** The one place that talks HTTP to Splunk: keep-alive, TLS options, timeout, abort. Nothing else. */
export class HecClient implements HecTransport {
  readonly #base: URL;
  readonly #agent: http.Agent;
  readonly #transport: typeof http | typeof https;

  constructor(private readonly config: SplunkConfig) {
    this.#base = new URL(config.url);
    const secure = this.#base.protocol === 'https:';
    this.#transport = secure ? https : http;
    this.#agent = secure
      ? new https.Agent({
          keepAlive: true,
          maxSockets: 4,
          rejectUnauthorized: config.tlsVerify,
          ca: config.caFile ? readFileSync(config.caFile) : undefined,
        })
      : new http.Agent({ keepAlive: true, maxSockets: 4 });
  }

  post(path: string, body: Buffer, headers: Record<string, string>, signal?: AbortSignal): Promise<HecReply> {
    // Appended, not resolved: a HEC behind a path prefix (https://lb/splunk) keeps its prefix.
    const url = new URL(`${this.#base.href.replace(/\/+$/, '')}${path}`);
    return new Promise((resolve, reject) => {
      const request = this.#transport.request(
        url,
        {
          method: 'POST',
          agent: this.#agent,
          signal,
          timeout: this.config.timeoutMs,
          headers: {
            authorization: `Splunk ${this.config.token}`,
            'content-type': 'application/json',
            'content-length': String(body.length),
            ...headers,
          },
        },
        (response) => {
          const chunks: Buffer[] = [];
          response.on('data', (chunk: Buffer) => chunks.push(chunk));
          response.on('error', reject);
          response.on('end', () =>
            resolve({ status: response.statusCode ?? 0, headers: response.headers, body: Buffer.concat(chunks).toString('utf8') }),
          );
        },
      );
      request.on('timeout', () => request.destroy(new Error(`HEC request timed out after ${this.config.timeoutMs} ms`)));
      request.on('error', reject);
      request.end(body);
    });
  }

  close(): void {
    this.#agent.destroy();
  }
}
