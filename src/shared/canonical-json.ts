/** Strings that JSON.stringify would only wrap in quotes: nothing to escape. */
const PLAIN = /^[\w .:@/-]*$/;

/**
 * JSON with object keys sorted at every depth, so that two events that differ only in key order
 * (org- and site-level deliveries of the same event) serialise identically. Built by appending to
 * one string, and plain strings are quoted without JSON.stringify: this runs once per event on the
 * normalizer's hot path.
 */
export function canonicalJson(value: unknown): string {
  if (typeof value === 'string') return quote(value);
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) {
    let out = '[';
    for (let i = 0; i < value.length; i++) out += (i > 0 ? ',' : '') + canonicalJson(value[i]);
    return `${out}]`;
  }
  const obj = value as Record<string, unknown>;
  const keys = Object.keys(obj).sort();
  let out = '{';
  let first = true;
  for (const key of keys) {
    const inner = obj[key];
    if (inner === undefined) continue;
    out += `${first ? '' : ','}${quote(key)}:${canonicalJson(inner)}`;
    first = false;
  }
  return `${out}}`;
}

function quote(text: string): string {
  return PLAIN.test(text) ? `"${text}"` : JSON.stringify(text);
}
