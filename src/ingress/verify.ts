import { createHash, createHmac, timingSafeEqual } from 'node:crypto';

export interface AuthSettings {
  /** Current secret first, then the previous one during a rotation. */
  secrets: readonly string[];
  token: string | null;
}

export type AuthResult = { ok: true; method: string } | { ok: false; reason: string };

type Headers = Record<string, string | string[] | undefined>;

/**
 * CONTRACT section 3: every configured check must pass. Signature: `X-Mist-Signature-v2` =
 * lowercase hex HMAC-SHA256(secret, raw body); only when it is absent is `X-Mist-Signature`
 * (HMAC-SHA1) consulted. Comparisons are constant-time. Node lower-cases header names.
 */
export function verifyAuth(headers: Headers, body: Buffer, settings: AuthSettings): AuthResult {
  const methods: string[] = [];
  if (settings.secrets.length > 0) {
    const v2 = single(headers['x-mist-signature-v2']);
    const v1 = single(headers['x-mist-signature']);
    if (v2 !== undefined) {
      if (!matchesAny(v2, 'sha256', body, settings.secrets)) return { ok: false, reason: 'X-Mist-Signature-v2 does not match the body' };
      methods.push('signature-v2');
    } else if (v1 !== undefined) {
      if (!matchesAny(v1, 'sha1', body, settings.secrets)) return { ok: false, reason: 'X-Mist-Signature does not match the body' };
      methods.push('signature-v1');
    } else return { ok: false, reason: 'missing X-Mist-Signature-v2 header' };
  }
  if (settings.token !== null) {
    const authorization = single(headers.authorization) ?? '';
    const match = /^Bearer\s+(.+)$/i.exec(authorization.trim());
    if (!match || !equalText(match[1]!, settings.token)) return { ok: false, reason: 'missing or wrong bearer token' };
    methods.push('token');
  }
  return { ok: true, method: methods.length > 0 ? methods.join('+') : 'none' };
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
