import type { Severity } from '../config/file-schema';
import { own } from '../shared/own';
import { deviceEventSeverity } from './device-event-severity';

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

/**
 * An event's CIM severity, in this order (README "Severity"): the config file's override for the
 * canonical topic and type; the severity Mist states (`severity`, Mist Edge `sys_info.usage.severity`);
 * else the higher of the generic `ev_type` advisory (NOTICE/warn) and what the type means — the
 * alarm catalogue, the device-event table, a failed Marvis Minis probe, an occupancy violation, or
 * the trouble words of the type. So `AP_DISCONNECTED` with `ev_type: NOTICE` is medium, not low.
 */
export function severityOf(topic: string, type: string, event: Record<string, unknown>, catalogueSeverity: string | null, rules: SeverityRules): Severity {
  const perTopic = own(rules.overrides, topic);
  const override = perTopic && (own(perTopic, type) ?? own(perTopic, '*'));
  if (override) return override;
  const mapped = (word: unknown): Severity | undefined => {
    if (typeof word !== 'string' || word.trim() === '') return undefined;
    const key = word.trim().toLowerCase();
    return own(rules.map, key) ?? own(DEFAULT_SEVERITY_MAP, key);
  };
  const stated = mapped(event.severity) ?? mapped(nested(event, 'sys_info', 'usage', 'severity'));
  if (stated) return stated;
  const advisory = mapped(event.ev_type);
  const meaning = mapped(catalogueSeverity) ?? probeSeverity(topic, event) ?? own(TYPE_SEVERITIES, type.toUpperCase()) ?? deviceEventSeverity(type) ?? troubleSeverity(type);
  return advisory && SEVERITY_IDS[advisory] > SEVERITY_IDS[meaning] ? advisory : meaning;
}

/** Types outside the device-event table whose meaning sets a severity. */
const TYPE_SEVERITIES: Readonly<Record<string, Severity>> = {
  'COMPLIANCE-VIOLATION': 'medium', // occupancy above the zone's limit
  'COMPLIANCE-OK': 'informational',
};

/** Marvis Minis synthetic tests: a failed probe is trouble, one that lost every packet more so. */
function probeSeverity(topic: string, event: Record<string, unknown>): Severity | undefined {
  if (!topic.startsWith('minis-') || event.success !== false) return undefined;
  return Number(event.loss_percentage) >= 100 ? 'high' : 'medium';
}

function troubleSeverity(type: string): Severity {
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
