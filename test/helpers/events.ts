import { normalizeEvent, normalizeWebhook } from '../../src/normalizer/normalize';
import type { MistEvent } from '../../src/domain/mist-event';
import { sampleJson } from './fixtures';

/** A sample's event, optionally patched (a later time, another AP), normalized as the pipeline would. */
export function eventFrom(file: string, patch: Record<string, unknown> = {}, index = 0): MistEvent {
  const body = sampleJson(file);
  const result = normalizeEvent(body.topic, { ...body.events[index], ...patch }, 1_800_000_000_000, { map: {}, overrides: {} });
  if (!result.ok) throw new Error(result.error);
  return result.event;
}

/** The event_ids a correct pipeline delivers for these webhook bodies. */
export function eventIdsOf(bodies: Array<Buffer | string>): string[] {
  return bodies.flatMap((body) => {
    const result = normalizeWebhook(body, 0, { map: {}, overrides: {} });
    return 'error' in result ? [] : result.results.flatMap((r) => (r.ok ? [r.event.event_id] : []));
  });
}
