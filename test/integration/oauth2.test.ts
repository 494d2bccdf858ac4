import { constants, generateKeyPairSync, sign as signBytes, type KeyObject } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sign } from '../../src/ingress/verify';
import { ManualClock } from '../helpers/clock';
import { sample } from '../helpers/fixtures';
import { metricSum, startPipeline } from '../helpers/pipeline';

/** A loopback identity provider: a JWKS document whose keys the test rotates, or takes away. */
class FakeJwks {
  keys: Array<{ kid: string; publicKey: KeyObject; privateKey: KeyObject; alg: string }> = [];
  down = false;
  fetches = 0;
  #server: http.Server | null = null;

  get url(): string {
    return `http://127.0.0.1:${(this.#server!.address() as AddressInfo).port}/.well-known/jwks.json`;
  }

  addKey(kid: string, type: 'rsa' | 'ec' = 'rsa'): void {
    const pair = type === 'rsa' ? generateKeyPairSync('rsa', { modulusLength: 2048 }) : generateKeyPairSync('ec', { namedCurve: 'P-256' });
    this.keys.push({ kid, ...pair, alg: type === 'rsa' ? 'RS256' : 'ES256' });
  }

  async start(): Promise<this> {
    this.#server = http.createServer((_req, res) => {
      this.fetches++;
      if (this.down) {
        res.writeHead(503).end();
        return;
      }
      const keys = this.keys.map((k) => ({ ...k.publicKey.export({ format: 'jwk' }), kid: k.kid, alg: k.alg, use: 'sig' }));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ keys }));
    });
    await new Promise<void>((resolve) => this.#server!.listen(0, '127.0.0.1', resolve));
    return this;
  }

  async stop(): Promise<void> {
    await new Promise<void>((resolve) => this.#server!.close(() => resolve()));
  }

  /** A JWT as an identity provider issues it to Mist (client credentials). */
  token(kid: string, claims: Record<string, unknown>): string {
    const key = this.keys.find((k) => k.kid === kid)!;
    const encode = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
    const input = `${encode({ alg: key.alg, kid, typ: 'JWT' })}.${encode(claims)}`;
    const signature = signBytes('sha256', Buffer.from(input), key.alg === 'ES256' ? { key: key.privateKey, dsaEncoding: 'ieee-p1363' } : key.privateKey);
    return `${input}.${signature.toString('base64url')}`;
  }
}

const ISSUER = 'https://idp.example.com/';
const AUDIENCE = 'mistbridge';
const body = sample('alarms__device-down-alarmdef.json').toString();

describe('Mist oauth2 webhooks: a bearer JWT verified against the identity provider\'s JWKS', () => {
  let jwks: FakeJwks;
  let pipeline: Awaited<ReturnType<typeof startPipeline>>;
  const clock = new ManualClock(Date.now());
  const now = () => Math.floor(clock.now() / 1000);
  const valid = (kid = 'k1', extra: Record<string, unknown> = {}) => jwks.token(kid, { iss: ISSUER, aud: [AUDIENCE, 'other'], exp: now() + 300, iat: now(), ...extra });
  const post = async (authorization?: string, headers: Record<string, string> = {}) =>
    fetch(`${pipeline.url}/webhooks/mist`, { method: 'POST', headers: { 'content-type': 'application/json', ...(authorization ? { authorization } : {}), ...headers }, body });

  beforeAll(async () => {
    jwks = await new FakeJwks().start();
    jwks.addKey('k1');
    pipeline = await startPipeline({
      MIST_WEBHOOK_SECRET: '',
      MIST_OAUTH2_JWKS_URL: jwks.url,
      MIST_OAUTH2_ISSUER: ISSUER,
      MIST_OAUTH2_AUDIENCE: AUDIENCE,
      MISTBRIDGE_ROLES: 'ingress,normalizer',
    }, { clock });
  });
  afterAll(async () => {
    await pipeline.stop();
    await jwks.stop();
  });

  it('accepts a valid token and refuses every way a token can be wrong, with 401', async () => {
    expect((await post(`Bearer ${valid()}`)).status).toBe(200);
    const refused = [
      undefined,
      'Bearer opaque-token-abc',
      `Bearer ${valid('k1', { exp: now() - 3600 })}`,
      `Bearer ${valid('k1', { iss: 'https://evil.example.com/' })}`,
      `Bearer ${valid('k1', { aud: 'someone-else' })}`,
      `Bearer ${valid().slice(0, -4)}AAAA`,
      `Bearer ${Buffer.from('{"alg":"none","kid":"k1"}').toString('base64url')}.${Buffer.from(JSON.stringify({ iss: ISSUER, aud: AUDIENCE, exp: now() + 60 })).toString('base64url')}.`,
    ];
    for (const authorization of refused) expect({ authorization, status: (await post(authorization)).status }).toEqual({ authorization, status: 401 });
    // Mist never signs oauth2 webhooks; a signature cannot stand in for the token.
    expect((await post(undefined, { 'x-mist-signature-v2': sign(body, 'anything') })).status).toBe(401);
  });

  it('fetches the keys again for an unknown key id (rotation), and answers 503 while the JWKS cannot be fetched', async () => {
    jwks.addKey('k2', 'ec');
    clock.advance(5000); // unknown key ids fetch the JWKS again at most every 5 s
    expect((await post(`Bearer ${valid('k2')}`)).status).toBe(200);
    jwks.addKey('k3');
    jwks.down = true;
    clock.advance(5000);
    const unavailable = await post(`Bearer ${valid('k3')}`);
    expect(unavailable.status).toBe(503);
    expect(Number(unavailable.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await metricSum(pipeline, 'mistbridge_webhooks_total', { outcome: 'unavailable' })).toBeGreaterThan(0);
    // Known keys still verify, and the process stays ready, naming the JWKS in its body.
    expect((await post(`Bearer ${valid('k1')}`)).status).toBe(200);
    const ready = await fetch(`${pipeline.adminUrl}/readyz`);
    expect(ready.status).toBe(200);
    expect(((await ready.json()) as { checks: Record<string, unknown> }).checks.oauth2_jwks).toMatchObject({ ok: false, jwks: jwks.url });
    jwks.down = false;
  });

  it('after a failed JWKS fetch, 300 tokens with unknown key ids still make a bounded number of fetches (one per 5 s, in every state)', async () => {
    jwks.down = true;
    clock.advance(5000);
    const before = jwks.fetches;
    expect((await post(`Bearer ${valid('k3')}`)).status).toBe(503); // the one fetch, failed
    jwks.addKey('k9');
    const tokens = Array.from({ length: 300 }, (_, i) => jwks.token('k9', { iss: ISSUER, aud: AUDIENCE, exp: now() + 300, jti: i }));
    for (let i = 0; i < tokens.length; i += 30) {
      await Promise.all(tokens.slice(i, i + 30).map((token) => post(`Bearer ${token}`)));
      clock.advance(100); // 3 s of tokens in all
    }
    expect(jwks.fetches - before).toBe(1);
    jwks.down = false;
    clock.advance(5000);
    expect((await post(`Bearer ${valid('k9')}`)).status).toBe(200);
  });

  it('enforces a key\'s "alg": a PS256 token verified with a key labelled RS256 is refused', async () => {
    const key = jwks.keys.find((k) => k.kid === 'k1')!;
    const encode = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');
    const input = `${encode({ alg: 'PS256', kid: 'k1', typ: 'JWT' })}.${encode({ iss: ISSUER, aud: AUDIENCE, exp: now() + 300 })}`;
    const signature = signBytes('sha256', Buffer.from(input), { key: key.privateKey, padding: constants.RSA_PKCS1_PSS_PADDING, saltLength: 32 });
    expect((await post(`Bearer ${input}.${signature.toString('base64url')}`)).status).toBe(401);
  });
});

describe('MIST_WEBHOOK_SECRETS_FILE', () => {
  it('accepts a signature by any of the secrets, the variable\'s and the file\'s', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mistbridge-secrets-'));
    const file = join(dir, 'secrets');
    writeFileSync(file, '# org-level webhook\norg-secret\n\nsite-secret\n');
    const pipeline = await startPipeline({ MIST_WEBHOOK_SECRET: 'main-secret', MIST_WEBHOOK_SECRETS_FILE: file, MISTBRIDGE_ROLES: 'ingress,normalizer' });
    try {
      for (const [secret, status] of [['main-secret', 200], ['org-secret', 200], ['site-secret', 200], ['# org-level webhook', 401], ['other', 401]] as const) {
        const reply = await fetch(`${pipeline.url}/webhooks/mist`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-mist-signature-v2': sign(body, secret) }, body });
        expect({ secret, status: reply.status }).toEqual({ secret, status });
      }
    } finally {
      await pipeline.stop();
    }
  });
});
