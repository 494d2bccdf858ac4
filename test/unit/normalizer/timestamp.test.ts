import { eventTime, parseTime } from '../../../src/normalizer/timestamp';

describe('parseTime: every form Mist sends (TOPICS.md section 5)', () => {
  it.each([
    ['integer seconds', 1749073244, 1749073244000],
    ['float seconds with microseconds', 1695171740.805999, 1695171740806],
    ['float seconds with ms', 1654148714.073, 1654148714073],
    ['numeric string seconds', '1695194041.635342', 1695194041635],
    ['ISO-8601 without zone is UTC', '2025-06-05T04:00:00', Date.UTC(2025, 5, 5, 4, 0, 0)],
    ['ISO-8601 with Z', '2025-06-13T15:01:20Z', Date.UTC(2025, 5, 13, 15, 1, 20)],
    ['ISO-8601 with offset', '2025-06-13T17:01:20+02:00', Date.UTC(2025, 5, 13, 15, 1, 20)],
    ['milliseconds (above 1e11)', 1749073244123, 1749073244123],
    ['numeric string milliseconds', '1749073244123', 1749073244123],
  ])('%s', (_label, input, expected) => {
    expect(parseTime(input)).toBe(expected);
  });

  it.each([
    ['zero placeholder', 0],
    ['before 2000', 946684799],
    ['after 2100', 4102444800],
    ['NaN', Number.NaN],
    ['Infinity', Number.POSITIVE_INFINITY],
    ['text', 'string'],
    ['empty', ''],
    ['boolean', true],
    ['object', { seconds: 1 }],
    ['null', null],
  ])('%s is not a time', (_label, input) => {
    expect(parseTime(input)).toBeNull();
  });
});

describe('eventTime: field precedence', () => {
  const received = Date.UTC(2026, 0, 1);
  it('prefers timestamp, then last_seen', () => {
    expect(eventTime({ timestamp: 1700000000, last_seen: 1600000000 }, 'alarms', received)).toEqual({ ms: 1700000000000, source: 'timestamp' });
    expect(eventTime({ timestamp: 0, last_seen: '2025-04-01T16:58:27' }, 'alarms', received)).toEqual({
      ms: Date.UTC(2025, 3, 1, 16, 58, 27),
      source: 'last_seen',
    });
  });

  it('uses the topic own time fields before falling back to the receive time', () => {
    expect(eventTime({ authorized_time: 1677076519 }, 'guest-authorizations', received)).toEqual({ ms: 1677076519000, source: 'authorized_time' });
    expect(eventTime({ alert_events: [{ timestamp: 1700000001 }] }, 'occupancy-alerts', received)).toEqual({
      ms: 1700000001000,
      source: 'alert_events.timestamp',
    });
    expect(eventTime({ connect_float: 1695172665.082 }, 'client-join', received)).toEqual({ ms: 1695172665082, source: 'connect_float' });
    expect(eventTime({ client_id: 'x' }, 'wifi-conn-raw', received)).toEqual({ ms: received, source: 'received' });
  });
});
