import { constants, createPublicKey, verify, type JsonWebKey, type KeyObject } from 'node:crypto';

/**
 * Mist `oauth2` webhooks (TOPICS.md section 3): Mist gets a token from the customer's identity
 * provider and sends it as `Authorization: Bearer <token>`; it never signs them. The token must be a
 * JWT signed by a key of the provider's JWKS, unexpired, with the configured issuer and audience.
 * Keys are cached and fetched again when a token names a key id the cache does not know (key
 * rotation). Opaque (non-JWT) tokens cannot be verified here and are refused.
 */
export interface JwtSettings {
  jwksUrl: string;
  issuer: string;
  audience: string;
}

export type JwtResult = { ok: true } | { ok: false; reason: string; unavailable?: boolean };

/** What verification needs of the outside world; tests pass their own clock. */
export interface JwtDeps {
  fetchJwks?: (url: string) => Promise<unknown>;
  now?: () => number;
}

const CLOCK_SKEW_S = 60;
/** A token with an unknown key id makes the JWKS be fetched again, at most this often. */
const REFRESH_MIN_INTERVAL_MS = 5000;
const FETCH_TIMEOUT_MS = 5000;

/** JWS algorithms and how node:crypto verifies them; `none` and the HMAC family (shared secrets) are refused. */
const ALGORITHMS: Readonly<Record<string, { hash: string | null; options?: object }>> = {
  RS256: { hash: 'sha256' },
  RS384: { hash: 'sha384' },
  RS512: { hash: 'sha512' },
  PS256: { hash: 'sha256', options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 } },
  PS384: { hash: 'sha384', options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 48 } },
  PS512: { hash: 'sha512', options: { padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 64 } },
  ES256: { hash: 'sha256', options: { dsaEncoding: 'ieee-p1363' } },
  ES384: { hash: 'sha384', options: { dsaEncoding: 'ieee-p1363' } },
  ES512: { hash: 'sha512', options: { dsaEncoding: 'ieee-p1363' } },
  EdDSA: { hash: null },
};

export class JwtVerifier {
  #keys = new Map<string, { key: KeyObject; alg?: string }>();
  #fetchedAt = -Infinity;
  #fetching: Promise<void> | null = null;
  #status: { ok: boolean; reason?: string } = { ok: false, reason: 'JWKS not fetched yet' };
  readonly #fetchJwks: (url: string) => Promise<unknown>;
  readonly #now: () => number;

  constructor(
    private readonly settings: JwtSettings,
    deps: JwtDeps = {},
  ) {
    this.#fetchJwks = deps.fetchJwks ?? fetchJson;
    this.#now = deps.now ?? Date.now;
  }

  /** Fetches the keys ahead of the first token (start-up); never throws. */
  async warm(): Promise<void> {
    await this.#refresh();
  }

  /** For /readyz: whether the JWKS could be fetched last time (informational). */
  status(): { ok: boolean; jwks: string; reason?: string } {
    return { ...this.#status, jwks: this.settings.jwksUrl };
  }

  async verify(token: string): Promise<JwtResult> {
    const parts = token.split('.');
    if (parts.length !== 3) return { ok: false, reason: 'bearer token is not a JWT (opaque tokens are not supported)' };
    const [rawHeader, rawPayload, rawSignature] = parts as [string, string, string];
    const header = decodeJson(rawHeader);
    const payload = decodeJson(rawPayload);
    if (!header || !payload) return { ok: false, reason: 'bearer token is not a JWT (opaque tokens are not supported)' };
    const algorithm = typeof header.alg === 'string' ? ALGORITHMS[header.alg] : undefined;
    if (!algorithm || !Object.hasOwn(ALGORITHMS, header.alg as string)) return { ok: false, reason: `JWT algorithm ${String(header.alg)} is not accepted` };
    const kid = typeof header.kid === 'string' ? header.kid : '';

    let found = this.#key(kid);
    if (!found) {
      const refreshed = await this.#refresh();
      if (!refreshed.ok && this.#keys.size === 0) return { ok: false, reason: `JWKS cannot be fetched: ${refreshed.reason}`, unavailable: true };
      found = this.#key(kid);
      if (!found) return refreshed.ok ? { ok: false, reason: `JWT key id ${kid || '(none)'} is not in the JWKS` } : { ok: false, reason: `JWKS cannot be fetched: ${refreshed.reason}`, unavailable: true };
    }
    // A key labelled with its algorithm verifies that algorithm only (RFC 7517 "alg").
    if (found.alg !== undefined && found.alg !== header.alg) return { ok: false, reason: `JWT algorithm ${String(header.alg)} does not match its key's (${found.alg})` };
    const key = found.key;

    const signed = Buffer.from(`${rawHeader}.${rawPayload}`);
    const signature = Buffer.from(rawSignature, 'base64url');
    let valid: boolean;
    try {
      valid = verify(algorithm.hash, signed, { key, ...(algorithm.options ?? {}) } as never, signature);
    } catch {
      valid = false; // a key of another type than the algorithm's
    }
    if (!valid) return { ok: false, reason: 'JWT signature does not verify' };
    return this.#claims(payload);
  }

  #claims(payload: Record<string, unknown>): JwtResult {
    const now = this.#now() / 1000;
    if (typeof payload.exp !== 'number') return { ok: false, reason: 'JWT has no exp' };
    if (payload.exp + CLOCK_SKEW_S < now) return { ok: false, reason: 'JWT has expired' };
    if (typeof payload.nbf === 'number' && payload.nbf - CLOCK_SKEW_S > now) return { ok: false, reason: 'JWT is not valid yet' };
    if (payload.iss !== this.settings.issuer) return { ok: false, reason: 'JWT issuer is not MIST_OAUTH2_ISSUER' };
    const audiences = Array.isArray(payload.aud) ? payload.aud : [payload.aud];
    if (!audiences.includes(this.settings.audience)) return { ok: false, reason: 'JWT audience is not MIST_OAUTH2_AUDIENCE' };
    return { ok: true };
  }

  #key(kid: string): { key: KeyObject; alg?: string } | undefined {
    if (kid) return this.#keys.get(kid);
    return this.#keys.size === 1 ? [...this.#keys.values()][0] : undefined;
  }

  /**
   * Fetches the JWKS again unless that happened moments ago, whether the last fetch worked or not
   * (tokens with unknown key ids during an outage must not turn into a fetch each); concurrent
   * callers share one fetch.
   */
  async #refresh(): Promise<{ ok: boolean; reason?: string }> {
    if (this.#fetching) await this.#fetching;
    else if (this.#now() - this.#fetchedAt >= REFRESH_MIN_INTERVAL_MS) {
      this.#fetching = this.#load().finally(() => (this.#fetching = null));
      await this.#fetching;
    }
    return this.#status;
  }

  async #load(): Promise<void> {
    this.#fetchedAt = this.#now();
    try {
      const jwks = (await this.#fetchJwks(this.settings.jwksUrl)) as { keys?: unknown };
      if (!Array.isArray(jwks?.keys)) throw new Error('the document has no "keys" array');
      const keys = new Map<string, { key: KeyObject; alg?: string }>();
      for (const jwk of jwks.keys as Array<JsonWebKey & { kid?: string; use?: string; alg?: string }>) {
        if (jwk.use !== undefined && jwk.use !== 'sig') continue;
        try {
          keys.set(jwk.kid ?? '', { key: createPublicKey({ key: jwk, format: 'jwk' }), ...(typeof jwk.alg === 'string' ? { alg: jwk.alg } : {}) });
        } catch {
          // a key this runtime cannot read (an unknown curve): the others still count
        }
      }
      this.#keys = keys;
      this.#status = { ok: true };
    } catch (err) {
      this.#status = { ok: false, reason: (err as Error).message };
    }
  }
}

function decodeJson(part: string): Record<string, unknown> | null {
  try {
    const value: unknown = JSON.parse(Buffer.from(part, 'base64url').toString('utf8'));
    return value && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

async function fetchJson(url: string): Promise<unknown> {
  const response = await fetch(url, { signal: AbortSignal.timeout(FETCH_TIMEOUT_MS), headers: { accept: 'application/json' } });
  if (!response.ok) throw new Error(`HTTP ${response.status} from ${new URL(url).host}`);
  return response.json();
}
