import { gzipSync } from 'node:zlib';

/**
 * Groups envelopes into requests of at most `maxEvents` envelopes and `maxBytes` uncompressed
 * bytes, in order. An envelope larger than `maxBytes` travels alone (Splunk decides; 413 → DLQ).
 */
export function planRequests(sizes: readonly number[], maxEvents: number, maxBytes: number): number[][] {
  const requests: number[][] = [];
  let current: number[] = [];
  let bytes = 0;
  sizes.forEach((size, index) => {
    const added = size + 1; // newline separator
    if (current.length > 0 && (current.length >= maxEvents || bytes + added > maxBytes)) {
      requests.push(current);
      current = [];
      bytes = 0;
    }
    current.push(index);
    bytes += added;
  });
  if (current.length > 0) requests.push(current);
  return requests;
}

/** HEC takes envelopes back to back; a newline between them is allowed whitespace and keeps bodies greppable. */
export function requestBody(envelopes: readonly string[], gzip: boolean): Buffer {
  const text = Buffer.from(envelopes.join('\n'));
  return gzip ? gzipSync(text, { level: 6 }) : text;
}
