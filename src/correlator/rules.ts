import type { RuleOverrides } from '../config/file-schema';

/**
 * CONTRACT section 6 default rule table. Type patterns are case-insensitive; `*` matches any run of
 * characters (`*_RESTARTED`). Alarms are routed by their `group` first.
 */
export const DEFAULT_RULES = {
  device: {
    open: ['device_down', 'switch_down', 'gateway_down', 'device_offline', 'switch_offline', 'gateway_offline', 'AP_DISCONNECTED', 'SW_DISCONNECTED', 'GW_DISCONNECTED'],
    resolve: ['device_reconnected', 'switch_reconnected', 'gateway_reconnected', 'AP_CONNECTED', 'SW_CONNECTED', 'GW_CONNECTED'],
    annotate: ['device_restarted', 'switch_restarted', 'gateway_restarted', '*_RESTARTED'],
  },
  marvis: { groups: ['marvis'] },
  security: { groups: ['security'] },
} as const;

export interface CorrelationRules {
  deviceOpen: (type: string) => boolean;
  deviceResolve: (type: string) => boolean;
  deviceAnnotate: (type: string) => boolean;
  marvisGroups: ReadonlySet<string>;
  securityGroups: ReadonlySet<string>;
  securityQuietWindowMs: number;
  retentionMs: number;
}

export function buildRules(overrides: RuleOverrides, securityQuietWindowMs: number, retentionMs: number): CorrelationRules {
  return {
    deviceOpen: matcher(overrides.device?.open ?? DEFAULT_RULES.device.open),
    deviceResolve: matcher(overrides.device?.resolve ?? DEFAULT_RULES.device.resolve),
    deviceAnnotate: matcher(overrides.device?.annotate ?? DEFAULT_RULES.device.annotate),
    marvisGroups: new Set((overrides.marvis?.groups ?? DEFAULT_RULES.marvis.groups).map((g) => g.toLowerCase())),
    securityGroups: new Set((overrides.security?.groups ?? DEFAULT_RULES.security.groups).map((g) => g.toLowerCase())),
    securityQuietWindowMs,
    retentionMs,
  };
}

function matcher(patterns: readonly string[]): (type: string) => boolean {
  const exact = new Set(patterns.filter((p) => !p.includes('*')).map((p) => p.toLowerCase()));
  const globs = patterns
    .filter((p) => p.includes('*'))
    .map((p) => new RegExp(`^${p.split('*').map((part) => part.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`, 'i'));
  return (type) => exact.has(type.toLowerCase()) || globs.some((g) => g.test(type));
}
