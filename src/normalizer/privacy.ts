import { createHmac } from 'node:crypto';
import { own } from '../shared/own';

export type PrivacyMode = 'off' | 'hash' | 'redact';

export interface PrivacyRules {
  mode: PrivacyMode;
  /** HMAC key for `hash`: a keyed hash, so values cannot be recovered by hashing guesses. */
  key: string | null;
  /** Personal fields per canonical topic; `*` applies to every topic. */
  fields: Readonly<Record<string, readonly string[]>>;
}

/** Personal data Mist sends (TOPICS.md section 7): guest portal details, user names, client addresses. */
export const DEFAULT_PRIVATE_FIELDS: Readonly<Record<string, readonly string[]>> = {
  '*': ['email', 'username', 'client_username', 'client_ip', 'src_ip'],
  'guest-authorizations': ['name', 'email', 'mobile', 'company', 'field1', 'field2', 'field3', 'field4', 'sponsor_email', 'sponsor_name'],
  audits: ['admin_name', 'src_ip'],
  'client-info': ['ip', 'hostname'],
  // Mist Access Assurance: identity-provider user names and certificate names (e-mail addresses, UPNs).
  'nac-events': ['idp_username', 'cert_cn', 'cert_subject', 'cert_san_upn', 'cert_san_email'],
  'nac-accounting': ['idp_username', 'cert_cn', 'cert_subject', 'cert_san_upn', 'cert_san_email'],
};

export const REDACTED = '[redacted]';

/**
 * The event as it may leave for Splunk: personal fields hashed (same input, same output, so
 * analysts can still count and correlate) or replaced. The event_id is computed before this,
 * over what Mist sent, so deduplication does not depend on the privacy setting.
 */
export function applyPrivacy(event: Record<string, unknown>, canonicalTopic: string, rules: PrivacyRules | undefined): Record<string, unknown> {
  if (!rules || rules.mode === 'off') return event;
  const fields = [...(rules.fields['*'] ?? []), ...(own(rules.fields, canonicalTopic) ?? [])];
  let out: Record<string, unknown> | null = null;
  for (const field of fields) {
    const value = event[field];
    if (value === undefined || value === null || value === '') continue;
    out ??= { ...event };
    out[field] = rules.mode === 'redact' ? REDACTED : `hmac:${createHmac('sha256', rules.key ?? '').update(typeof value === 'string' ? value : JSON.stringify(value)).digest('hex').slice(0, 24)}`;
  }
  return out ?? event;
}
