import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { JwtVerifier } from './jwt';

export interface AuthSettings {
  /** HMAC secrets: the current one, the previous one while rotating, and MIST_WEBHOOK_SECRETS_FILE's. */
  secrets: readonly string[];
  /** A static bearer token Mist sends as a custom header (MIST_WEBHOOK_TOKEN). */
  token: string | null;
  /** Mist `oauth2` webhooks: the bearer token is a JWT of the configured identity provider. */
  oauth2?: JwtVerifier | null;
}

export type AuthResult = { ok: true; method: string } | { ok: false; reason: string; unavailable?: boolean };

type Headers = Record<string, string | string[] | undefined>;

/** What the headers alone decide: pass or refuse now, or check the signature once the body is read. */
export type AuthPlan = AuthResult | { ok: 'signature'; header: 'v2' | 'v1'; value: string };

/**
 * CONTRACT sections 2–3. A request that carries `X-Mist-Signature-v2` (or only `X-Mist-Signature`,
 * HMAC-SHA1) must pass the HMAC check against one of the secrets. A request without one must carry
 * a bearer token that passes the configured check: the static token, or the OAuth2 JWT (Mist never
 * signs `oauth2` webhooks). Nothing configured: every request passes (protected mode keeps such a
 * process on loopback). Everything but the HMAC is decided from the headers, before the body is
 * read (an unauthenticated client cannot make the ingress hold its upload).
 */
export async function authenticate(headers: Headers, settings: AuthSettings): Promise<AuthPlan> {
  const hasSecrets = settings.secrets.length > 0;
  const bearerCheck = settings.token !== null || Boolean(settings.oauth2);
  if (!hasSecrets && !bearerCheck) return { ok: true, method: 'none' };

  if (hasSecrets) {
    const v2 = single(headers['x-mist-signature-v2']);
    if (v2 !== undefined) return { ok: 'signature', header: 'v2', value: v2 };
    const v1 = single(headers['x-mist-signature']);
    if (v1 !== undefined) return { ok: 'signature', header: 'v1', value: v1 };
    if (!bearerCheck) return { ok: false, reason: 'missing X-Mist-Signature-v2 header' };
  }

  const match = /^Bearer\s+(\S+)\s*$/i.exec((single(headers.authorization) ?? '').trim());
  if (!match) return { ok: false, reason: hasSecrets ? 'missing X-Mist-Signature-v2 header or bearer token' : 'missing bearer token' };
  const presented = match[1]!;
  if (settings.token !== null) return equalText(presented, settings.token) ? { ok: true, method: 'token' } : { ok: false, reason: 'wrong bearer token' };
  const jwt = await settings.oauth2!.verify(presented);
  return jwt.ok ? { ok: true, method: 'oauth2' } : { ok: false, reason: jwt.reason, ...(jwt.unavailable ? { unavailable: true } : {}) };
}

/** The HMAC check of a plan that needs the body. */
export function checkSignature(plan: Extract<AuthPlan, { ok: 'signature' }>, body: Buffer, secrets: readonly string[]): AuthResult {
  const [algorithm, name] = plan.header === 'v2' ? (['sha256', 'X-Mist-Signature-v2'] as const) : (['sha1', 'X-Mist-Signature'] as const);
  return matchesAny(plan.value, algorithm, body, secrets) ? { ok: true, method: `signature-${plan.header}` } : { ok: false, reason: `${name} does not match the body` };
}

/** Both steps at once (tests, tools). */
export async function verifyAuth(headers: Headers, body: Buffer, settings: AuthSettings): Promise<AuthResult> {
  const plan = await authenticate(headers, settings);
  return plan.ok === 'signature' ? checkSignature(plan, body, settings.secrets) : plan;
}

export function sign(body: Buffer | string, secret: string, algorithm: 'sha256' | 'sha1' = 'sha256'): string {
  return createHmac(algorithm, secret).update(body).digest('hex');
}

function matchesAny(header: string, algorithm: 'sha256' | 'sha1', body: Buffer, secrets: readonly string[]): boolean {
  const given = Buffer.from(header.trim().toLowerCase(), 'hex');
  let matched = false;
  for (const secret of secrets) {
    const expected = createHmac(algorithm, secret).update(body).digest();
    // Lengths are public (they follow from the algorithm); only the bytes are compared in constant time.
    if (given.length === expected.length && timingSafeEqual(given, expected)) matched = true;
  }
  return matched;
}

/** Digests first, so neither the bytes nor the length of the token leak through timing. */
function equalText(a: string, b: string): boolean {
  return timingSafeEqual(createHash('sha256').update(a).digest(), createHash('sha256').update(b).digest());
}

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value[0] : value;
}
