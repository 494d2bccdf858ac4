import type { Runtime } from '../../src/runtime/run';
import { sign } from '../../src/ingress/verify';
import { SECRET } from '../helpers/pipeline';

/** Posts a signed webhook; the status, or 0 when nothing answers (no ingress in this run). */
export async function post(url: string, body: string): Promise<number> {
  try {
    const response = await fetch(`${url}/webhooks/mist`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', 'x-mist-signature-v2': sign(body, SECRET) },
      body,
    });
    await response.arrayBuffer();
    return response.status;
  } catch {
    return 0;
  }
}

const GROUPS_OF = {
  correlator: ['mistbridge-normalizer', 'mistbridge-correlator'],
  mistapi: ['mistbridge-mistapi'],
  all: null,
} as const;

/**
 * Waits until the named consumer groups have committed everything (and `also` holds): the model's
 * notion of "nothing in flight". Polls often: sequences are short and many.
 */
export async function settle(runtime: Runtime, which: keyof typeof GROUPS_OF, also: () => boolean = () => true, timeoutMs = 20_000): Promise<void> {
  const groups = GROUPS_OF[which];
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const lag = await runtime.bus.lag();
    const pending = lag.filter((l) => (groups === null || (groups as readonly string[]).includes(l.group)) && l.lag > 0);
    // Asked every time: it may move things along (the model flushes notify windows in it).
    const done = also();
    if (pending.length === 0 && done) return;
    if (Date.now() > deadline) throw new Error(`not settled after ${timeoutMs} ms: ${JSON.stringify(pending)}`);
    await new Promise((resolve) => setTimeout(resolve, 3));
  }
}
