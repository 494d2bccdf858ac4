import fc from 'fast-check';
import { eventId } from '../../../src/normalizer/event-id';
import { canonicalJson } from '../../../src/shared/canonical-json';
import { DedupeWindow } from '../../../src/normalizer/dedupe';
import { sampleJson } from '../../helpers/fixtures';

describe('event_id (CONTRACT section 5)', () => {
  const event = sampleJson('alarms__device-down-alarmdef.json').events[0]!;

  it('is the same for the same event whatever the key order', () => {
    const reordered = Object.fromEntries(Object.entries(event).reverse());
    expect(eventId('alarms', reordered)).toBe(eventId('alarms', event));
  });

  it('changes with any field, nested ones included, and with the topic', () => {
    const base = eventId('alarms', event);
    expect(eventId('alarms', { ...event, count: 2 })).not.toBe(base);
    expect(eventId('alarms', { ...event, aps: ['d420b02000fb'] })).not.toBe(base);
    expect(eventId('audits', event)).not.toBe(base);
  });

  it('keeps the same value across releases, so that deduplication holds over an upgrade', () => {
    expect(eventId('alarms', event)).toBe('9632cf41ace3784bad84f9c8063599d8');
    const awkward = { 'é"q\\': ['\u0000', '\ud800', 1.5e300, -0, null, true, { '10': 1, '9': 2, b: { a: 'x' } }] };
    expect(eventId('alarms', awkward)).toBe('8784a2b62ee3bcb95c6d90c599852043');
  });

  it('serialises exactly as JSON.stringify of the value with its keys sorted', () => {
    const reference = (v: unknown): string => {
      if (v === null || typeof v !== 'object') return JSON.stringify(v);
      if (Array.isArray(v)) return `[${v.map(reference).join(',')}]`;
      const obj = v as Record<string, unknown>;
      return `{${Object.keys(obj)
        .sort()
        .map((k) => `${JSON.stringify(k)}:${reference(obj[k])}`)
        .join(',')}}`;
    };
    fc.assert(fc.property(fc.jsonValue(), (value) => expect(canonicalJson(value)).toBe(reference(value))), { numRuns: 2000 });
  });

  it('is 32 lowercase hex characters', () => {
    expect(eventId('alarms', event)).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('DedupeWindow', () => {
  it('remembers ids for the window, forgetting them at most a tenth of it later', () => {
    const window = new DedupeWindow(600_000);
    window.add(['a'], 0);
    window.add(['b'], 59_999); // same generation as 'a'
    window.add(['c'], 60_000); // the next one
    expect(window.has('a', 599_999)).toBe(true);
    expect(window.has('b', 659_998)).toBe(true);
    expect(window.has('a', 660_000)).toBe(false);
    expect(window.has('c', 719_999)).toBe(true);
    expect(window.has('c', 720_000)).toBe(false);
  });

  it('refreshes an id seen again', () => {
    const window = new DedupeWindow(600_000);
    window.add(['a'], 0);
    window.add(['a'], 500_000);
    expect(window.has('a', 1_000_000)).toBe(true);
  });

  it('stays within its bound under a flood of distinct ids', () => {
    const window = new DedupeWindow(600_000, 100);
    window.add(Array.from({ length: 1000 }, (_, i) => String(i)), 0);
    expect(window.has('999', 1)).toBe(true);
    expect(window.has('0', 1)).toBe(false);
  });

  it('does nothing with a zero window', () => {
    const window = new DedupeWindow(0);
    window.add(['a'], 0);
    expect(window.has('a', 0)).toBe(false);
  });
});
