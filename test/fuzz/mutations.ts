import fc from 'fast-check';

/** Hostile variations of one value: swapped types, huge/deep/unicode values, numbers as strings, NaN-ish times. */
const hostileLeaf = fc.oneof(
  fc.constant(null),
  fc.boolean(),
  fc.integer(),
  fc.double(),
  fc.constantFrom(Number.NaN, Infinity, -Infinity, 0, -1, 1e11, 1e20, 4102444800, 946684799),
  fc.constantFrom('NaN', 'Infinity', '', ' ', '1e309', '0x10', '2025-13-45T99:99:99', '1695194041.635342', '2025-06-05T04:00:00', '\u0000', '\ud800'),
  fc.constantFrom('constructor', '__proto__', 'toString', 'hasOwnProperty'), // found on every object's prototype
  fc.string(),
  fc.fullUnicodeString(),
  fc.string({ minLength: 10_000, maxLength: 20_000 }),
);

const deep = (depth: number): unknown => (depth === 0 ? 'bottom' : { nested: deep(depth - 1) });

export const hostileValue: fc.Arbitrary<unknown> = fc.oneof(
  { weight: 6, arbitrary: hostileLeaf },
  { weight: 1, arbitrary: fc.array(hostileLeaf, { maxLength: 5 }) },
  { weight: 1, arbitrary: fc.dictionary(fc.string(), hostileLeaf, { maxKeys: 5 }) },
  { weight: 1, arbitrary: fc.integer({ min: 50, max: 400 }).map(deep) },
  { weight: 1, arbitrary: fc.array(fc.array(hostileLeaf, { maxLength: 3 }), { maxLength: 3 }) },
);

export type Mutation = (event: Record<string, unknown>) => unknown;

/** One mutation of an event: a field set to a hostile value, removed, renamed, or the event replaced. */
export const mutation: fc.Arbitrary<Mutation> = fc.oneof(
  fc.tuple(fc.constantFrom('timestamp', 'last_seen', 'type', 'org_id', 'site_id', 'aps', 'switches', 'gateways', 'hostnames', 'mac', 'ap', 'device_type', 'severity', 'ev_type', 'group', 'status', 'details', 'reasons', 'reason', 'count', 'id', 'impacted_entities', 'bssids', 'client_macs'), hostileValue).map(
    ([field, value]): Mutation => (event) => ({ ...event, [field]: value }),
  ),
  fc.string().chain((field) => hostileValue.map((value): Mutation => (event) => ({ ...event, [field]: value }))),
  fc.constantFrom('timestamp', 'type', 'org_id', 'site_id', 'aps', 'mac').map((field): Mutation => (event) => {
    const copy = { ...event };
    delete copy[field];
    return copy;
  }),
  hostileValue.map((value): Mutation => () => value),
);

/** Topic spellings: right, wrong case, underscores, unknown, names of Object's prototype. */
export const topicSpelling = (topic: string): fc.Arbitrary<string> =>
  fc.constantFrom(topic, topic.toUpperCase(), topic.replace(/-/g, '_'), ` ${topic} `, `${topic}s`, 'unknown-topic', 'string', '\u00e9v\u00e9nements', 'constructor', '__proto__');
