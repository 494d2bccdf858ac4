import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import fc from 'fast-check';
import { buildRules } from '../../src/correlator/rules';
import { reduce, sweep } from '../../src/correlator/reducer';
import type { Incident, Recovery } from '../../src/domain/incident';
import { normalizeEvents, normalizeWebhook } from '../../src/normalizer/normalize';
import type { MistEvent } from '../../src/domain/mist-event';
import { AvroCodec } from '../../src/shared/avro';
import { sampleFiles, sampleJson } from '../helpers/fixtures';
import { mutation, topicSpelling } from './mutations';

/** `npm test` runs a few thousand cases; `npm run fuzz` sets FUZZ_RUNS=100000. */
const RUNS = Number(process.env.FUZZ_RUNS ?? 3000);
const RECEIVED = Date.UTC(2026, 0, 1);
const MIN = Date.UTC(2000, 0, 1);
const MAX = Date.UTC(2100, 0, 1);
const SEVERITIES = new Set(['critical', 'high', 'medium', 'low', 'informational']);
const codec = new AvroCodec<MistEvent>('mist-event.avsc');
const rules = buildRules({}, 3600_000, 86400_000);
// The real samples and every example body of the Mist OpenAPI (its 2026 shapes: occupancy alert
// lists, MAC-embedded ids, for_site flags, placeholders).
const openapiDir = join(__dirname, '..', 'fixtures', 'samples-openapi');
const corpus = [
  ...sampleFiles().map((file) => sampleJson(file)),
  ...readdirSync(openapiDir).map((file) => JSON.parse(readFileSync(join(openapiDir, file), 'utf8')) as { topic: string; events: Array<Record<string, unknown>> }),
];
const sampleEvent = fc.constantFrom(...corpus.flatMap((body) => body.events.map((event) => ({ topic: body.topic, event }))));

describe(`fuzzing the normalizer and the correlator (${RUNS} cases each)`, () => {
  jest.setTimeout(600_000);

  it('every mutated event is normalized sanely or refused with a reason; none throws', () => {
    let normalized = 0;
    let refused = 0;
    fc.assert(
      fc.property(sampleEvent, fc.array(mutation, { minLength: 1, maxLength: 4 }), fc.nat(), ({ topic, event }, mutations, pick) => {
        const mutated = mutations.reduce<unknown>((e, m) => (e && typeof e === 'object' && !Array.isArray(e) ? m(e as Record<string, unknown>) : e), event);
        const spelled = fc.sample(topicSpelling(topic), { numRuns: 1, seed: pick })[0]!;
        for (const result of normalizeEvents(spelled, mutated, RECEIVED, { map: {}, overrides: {} })) {
          if (!result.ok) {
            refused++;
            expect(result.reason).toMatch(/^[a-z_]+$/);
            expect(result.error.length).toBeGreaterThan(0);
            continue;
          }
          normalized++;
          const e = result.event;
          expect(e.timestamp === RECEIVED || (e.timestamp >= MIN && e.timestamp < MAX)).toBe(true);
          expect(SEVERITIES.has(e.severity)).toBe(true);
          expect(e.message.length).toBeGreaterThan(0);
          expect(codec.problems(e)).toEqual([]);
          // the correlator takes whatever the normalizer produced
          const state = new Map<string, Incident>();
          const recoveries = new Map<string, Recovery>();
          const reduced = reduce({ incident: (k) => state.get(k), recovery: (k) => recoveries.get(k) }, e, rules);
          for (const write of reduced.incidents) state.set(write.key, write);
          for (const recovery of reduced.recoveries) recoveries.set(recovery.key, recovery);
          sweep(state.values(), RECEIVED + 86400_000 * 30, rules, recoveries.values());
        }
      }),
      { numRuns: RUNS },
    );
    // Both paths are taken: mutations that replace the event with a non-object are refused.
    expect(normalized).toBeGreaterThan(0);
    expect(refused).toBeGreaterThan(0);
  });

  it('whole bodies of any shape are split or refused with an error; none throws', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.json(), fc.constantFrom('{"topic":"alarms","events":[null,1,"x",[]]}', '{"topic":"alarms","events":[{"a":{"b":' + '['.repeat(100_000) + ']'.repeat(100_000) + '}}]}')), (text) => {
        const result = normalizeWebhook(text, RECEIVED, { map: {}, overrides: {} });
        if ('error' in result) expect(result.error.length).toBeGreaterThan(0);
        else for (const r of result.results) expect(r.ok || r.reason.length > 0).toBe(true);
      }),
      { numRuns: Math.ceil(RUNS / 3) },
    );
  });
});
