/**
 * `record[key]` for the record's own keys only. Mist sends arbitrary strings as topics, types and
 * severities; `constructor` or `__proto__` must find nothing, not Object's prototype.
 */
export function own<V>(record: Readonly<Record<string, V>>, key: string): V | undefined {
  return Object.hasOwn(record, key) ? record[key] : undefined;
}
