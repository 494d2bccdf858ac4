import { eventId } from '../../../src/normalizer/event-id';
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

  it('is 32 lowercase hex characters', () => {
    expect(eventId('alarms', event)).toMatch(/^[0-9a-f]{32}$/);
  });
});

describe('DedupeWindow', () => {
  it('remembers ids for the window only', () => {
    const window = new DedupeWindow(600_000);
    window.add(['a'], 0);
    expect(window.has('a', 599_999)).toBe(true);
    expect(window.has('a', 600_000)).toBe(false);
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
