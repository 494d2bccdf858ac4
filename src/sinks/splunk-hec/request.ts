import { chunks } from '../../shared/chunks';
import { gzipSync } from 'node:zlib';

/**
 * Groups envelopes into requests of at most `maxEvents` envelopes and `maxBytes` uncompressed
 * bytes (each with its newline separator), in order. An envelope larger than `maxBytes` travels
 * alone (Splunk decides; 413 → DLQ).
 */
export function planRequests(sizes: readonly number[], maxEvents: number, maxBytes: number): number[][] {
  return chunks(
    sizes.map((_, index) => index),
    (index) => sizes[index]! + 1,
    maxEvents,
    maxBytes,
  );
}

/** HEC takes envelopes back to back; a newline between them is allowed whitespace and keeps bodies greppable. */
export function requestBody(envelopes: readonly string[], gzip: boolean): Buffer {
  const text = Buffer.from(envelopes.join('\n'));
  return gzip ? gzipSync(text, { level: 6 }) : text;
}
