import type { Severity } from '../config/file-schema';
import { own } from '../shared/own';

export const SEVERITY_IDS: Readonly<Record<Severity, number>> = { critical: 5, high: 4, medium: 3, low: 2, informational: 1 };

/**
 * Mist's severity words → the Splunk CIM Alerts vocabulary (CONTRACT section 5). Ordered so that a
 * Mist `warn` never ranks above `critical`, nor `info` above `warn`. `normal`, `high` and `error`
 * come from Mist Edge component events. The config file's `severity.map` changes entries.
 */
export const DEFAULT_SEVERITY_MAP: Readonly<Record<string, Severity>> = {
  critical: 'critical',
  major: 'high',
  high: 'high',
  error: 'high',
  warn: 'medium',
  warning: 'medium',
  minor: 'low',
  notice: 'low',
  low: 'low',
  info: 'informational',
  informational: 'informational',
  normal: 'informational',
};

/** Words in an event type that mark a down, a failure or a disconnect: these default to medium. */
const TROUBLE_WORDS = new Set([
  'down', 'offline', 'disconnect', 'disconnected', 'fail', 'failed', 'failure', 'deny', 'denied',
  'unplugged', 'lost', 'crashed', 'unreachable', 'violation',
]);

export interface SeverityRules {
  map: Readonly<Record<string, Severity>>;
  overrides: Readonly<Record<string, Readonly<Record<string, Severity>>>>;
}

/** The Mist severity value an event carries, if any: `severity`, device-event `ev_type`, Mist Edge usage severity. */
export function mistSeverityOf(event: Record<string, unknown>): string | null {
  for (const value of [event.severity, event.ev_type, nested(event, 'sys_info', 'usage', 'severity')]) {
    if (typeof value === 'string' && value.trim() !== '') return value.trim();
  }
  return null;
}

export function severityOf(
  topic: string,
  type: string,
  mistSeverity: string | null,
  catalogueSeverity: string | null,
  rules: SeverityRules,
): Severity {
  const perTopic = own(rules.overrides, topic);
  const override = perTopic && (own(perTopic, type) ?? own(perTopic, '*'));
  if (override) return override;
  for (const word of [mistSeverity, catalogueSeverity]) {
    if (!word) continue;
    const key = word.toLowerCase();
    const mapped = own(rules.map, key) ?? own(DEFAULT_SEVERITY_MAP, key);
    if (mapped) return mapped;
  }
  return type.toLowerCase().split(/[^a-z]+/).some((w) => TROUBLE_WORDS.has(w)) ? 'medium' : 'informational';
}

function nested(value: unknown, ...path: string[]): unknown {
  let current = value;
  for (const key of path) {
    if (current === null || typeof current !== 'object') return undefined;
    current = (current as Record<string, unknown>)[key];
  }
  return current;
}
