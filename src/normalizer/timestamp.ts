const MIN_MS = Date.UTC(2000, 0, 1);
const MAX_MS = Date.UTC(2100, 0, 1);
const NUMERIC = /^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/;
const ISO = /^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}(:\d{2}(\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?$/i;
const HAS_ZONE = /(Z|[+-]\d{2}:?\d{2})$/i;

/**
 * Where an event's time may be found, in order (CONTRACT section 5): `timestamp`, then `last_seen`,
 * then the topic's own time fields. Paths are dotted; `[0]` picks the first array element.
 */
const TOPIC_TIME_FIELDS: Readonly<Record<string, readonly string[]>> = {
  'client-sessions': ['disconnect_float', 'disconnect'],
  'client-join': ['connect_float', 'connect'],
  'guest-authorizations': ['authorized_time'],
  'occupancy-alerts': ['alert_events[0].timestamp'],
  'sdkclient-scan-data': ['scan_data[0].timestamp'],
  alarms: ['resolved_time'],
};
const COMMON_FIELDS = ['timestamp', 'last_seen'];

/** Epoch milliseconds from a Mist time value: seconds (number or numeric string; above 1e11 = ms) or ISO-8601 (no zone = UTC). */
export function parseTime(value: unknown): number | null {
  let ms: number;
  if (typeof value === 'number') ms = toMs(value);
  else if (typeof value === 'string') {
    const text = value.trim();
    if (NUMERIC.test(text)) ms = toMs(Number(text));
    else if (ISO.test(text)) ms = Date.parse(HAS_ZONE.test(text) ? text.replace(' ', 'T') : `${text.replace(' ', 'T')}Z`);
    else return null;
  } else return null;
  return Number.isFinite(ms) && ms >= MIN_MS && ms < MAX_MS ? ms : null;
}

function toMs(value: number): number {
  // No Mist topic is known to send milliseconds; a value that large can only be one.
  return Math.round(Math.abs(value) > 1e11 ? value : value * 1000);
}

export function eventTime(event: Record<string, unknown>, topicKey: string | null, receivedAt: number): { ms: number; source: string } {
  const fields = [...COMMON_FIELDS, ...((topicKey && TOPIC_TIME_FIELDS[topicKey]) || [])];
  for (const field of fields) {
    const ms = parseTime(pick(event, field));
    if (ms !== null) return { ms, source: field.replace('[0]', '') };
  }
  return { ms: receivedAt, source: 'received' };
}

function pick(event: Record<string, unknown>, path: string): unknown {
  let current: unknown = event;
  for (const part of path.split('.')) {
    const match = /^(\w+)(\[0\])?$/.exec(part);
    if (!match || current === null || typeof current !== 'object' || Array.isArray(current)) return undefined;
    current = (current as Record<string, unknown>)[match[1]!];
    if (match[2]) current = Array.isArray(current) ? current[0] : undefined;
  }
  return current;
}
