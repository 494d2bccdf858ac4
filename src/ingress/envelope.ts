import { envelopeProblem } from '../normalizer/normalize';

export type Envelope = { ok: true; topic: string; eventCount: number; key: string } | { ok: false; error: string };

/** Checks a raw body is a Mist envelope and derives its bus key (CONTRACT section 4: site_id of the first event, else org_id, else topic). */
export function readEnvelope(body: Buffer): Envelope {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body.toString('utf8'));
  } catch (err) {
    return { ok: false, error: `body is not valid JSON: ${(err as Error).message}` };
  }
  const problem = envelopeProblem(parsed);
  if (problem) return { ok: false, error: problem };
  const { topic, events } = parsed as { topic: string; events: unknown[] };
  const first = events[0] as Record<string, unknown> | undefined;
  const key = stringField(first, 'site_id') ?? stringField(first, 'org_id') ?? topic;
  return { ok: true, topic, eventCount: events.length, key };
}

function stringField(event: Record<string, unknown> | undefined, field: string): string | null {
  const value = event && typeof event === 'object' ? event[field] : undefined;
  return typeof value === 'string' && value !== '' ? value : null;
}
