import http from 'node:http';
import type { AddressInfo } from 'node:net';

type Json = Record<string, unknown>;
type Reply = { status: number; headers?: Record<string, string>; hold?: boolean };

/**
 * Loopback stand-ins for Slack, Teams, Google Chat and a generic webhook (one path each): every
 * request kept, replies scripted, or every request answered `down` (an outage) until it is null.
 */
export class FakeChat {
  readonly received: Array<{ path: string; body: Json; status: number; at: number }> = [];
  readonly script: Reply[] = [];
  /** While set, every request is answered with this status (after the script). */
  down: number | null = null;
  /** Paths whose next request is refused with 400 (a destination rejecting a message), once each. */
  readonly refuseNext = new Set<string>();
  url = '';
  #server: http.Server | null = null;
  readonly #held: http.ServerResponse[] = [];

  async start(): Promise<this> {
    this.#server = http.createServer((req, res) => {
      let text = '';
      req.on('data', (c: Buffer) => (text += c.toString()));
      req.on('end', () => {
        const reply = this.script.shift() ?? (this.refuseNext.delete(req.url ?? '') ? { status: 400 } : { status: this.down ?? 200 });
        this.received.push({ path: req.url ?? '', body: JSON.parse(text) as Json, status: reply.hold ? 0 : reply.status, at: Date.now() });
        if (reply.hold) {
          this.#held.push(res);
          return;
        }
        res.writeHead(reply.status, reply.headers ?? {});
        res.end(reply.status === 200 ? 'ok' : 'no');
      });
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.#server!.address() as AddressInfo).port}`;
    return this;
  }

  delivered(path: string): Json[] {
    return this.received.filter((r) => r.path === path && r.status === 200).map((r) => r.body);
  }

  async stop(): Promise<void> {
    for (const res of this.#held) res.destroy();
    this.#server?.closeAllConnections();
    await new Promise<void>((resolve) => this.#server?.close(() => resolve()));
  }
}
