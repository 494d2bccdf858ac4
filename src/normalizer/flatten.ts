/**
 * Nested objects become dotted keys down to their leaves; arrays stay whole as JSON text (so a
 * list of MACs is one searchable field); every leaf is a string, as the Avro map requires.
 */
export function flatten(event: Record<string, unknown>, skip: ReadonlySet<string>): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (value: unknown, path: string): void => {
    if (value !== null && typeof value === 'object' && !Array.isArray(value)) {
      const entries = Object.entries(value);
      if (entries.length === 0) out[path] = '{}';
      for (const [key, inner] of entries) walk(inner, `${path}.${key}`);
    } else out[path] = leaf(value);
  };
  for (const [key, value] of Object.entries(event)) if (!skip.has(key)) walk(value, key);
  return out;
}

function leaf(value: unknown): string {
  if (typeof value === 'string') return value;
  if (value === undefined) return 'null';
  return JSON.stringify(value) ?? 'null';
}
