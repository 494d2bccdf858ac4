/**
 * Every reason a stage dead-letters with (CONTRACT sections 4 and 7). `mistbridge_dlq_total` exports
 * each pair at 0 from start-up, so `increase()` sees the first dead letter after a restart; a
 * letter's reason is typed from this table, so a new reason cannot go uncounted.
 */
export const DLQ_REASONS = {
  normalizer: ['invalid_envelope', 'event_not_object', 'normalize_failed', 'schema_invalid', 'too_large', 'crash_loop'],
  splunk: ['schema_mismatch', 'hec_rejected', 'hec_too_large', 'proxy_error'],
  correlator: ['schema_mismatch'],
  metrics: ['schema_mismatch'],
  notify: ['schema_mismatch', 'notify_rejected'],
} as const;

export type Stage = keyof typeof DLQ_REASONS;
export type DlqReason<S extends Stage = Stage> = (typeof DLQ_REASONS)[S][number];
