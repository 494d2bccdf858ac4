import { sign, verifyAuth } from '../../../src/ingress/verify';

const body = Buffer.from('{"topic":"alarms","events":[]}');

describe('verifyAuth (CONTRACT section 3)', () => {
  const settings = { secrets: ['s3cret'], token: null };

  it('accepts a valid v2 signature', async () => {
    expect(await verifyAuth({ 'x-mist-signature-v2': sign(body, 's3cret') }, body, settings)).toEqual({ ok: true, method: 'signature-v2' });
  });

  it('accepts the SHA-1 header only when v2 is absent', async () => {
    expect(await verifyAuth({ 'x-mist-signature': sign(body, 's3cret', 'sha1') }, body, settings)).toEqual({ ok: true, method: 'signature-v1' });
    expect((await verifyAuth({ 'x-mist-signature': sign(body, 's3cret', 'sha1'), 'x-mist-signature-v2': 'bad' }, body, settings)).ok).toBe(false);
  });

  it('accepts upper-case hex as the same digest', async () => {
    expect((await verifyAuth({ 'x-mist-signature-v2': sign(body, 's3cret').toUpperCase() }, body, settings)).ok).toBe(true);
  });

  it.each([
    ['no header', {}],
    ['wrong secret', { 'x-mist-signature-v2': sign(body, 'other') }],
    ['truncated digest', { 'x-mist-signature-v2': sign(body, 's3cret').slice(0, 40) }],
    ['not hex', { 'x-mist-signature-v2': 'z'.repeat(64) }],
    ['sha256= prefix', { 'x-mist-signature-v2': `sha256=${sign(body, 's3cret')}` }],
  ])('rejects %s', async (_label, headers) => {
    expect((await verifyAuth(headers, body, settings)).ok).toBe(false);
  });

  it('rejects a signature over a re-serialised body', async () => {
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(body.toString()), null, 2));
    expect((await verifyAuth({ 'x-mist-signature-v2': sign(reserialised, 's3cret') }, body, settings)).ok).toBe(false);
  });

  it('accepts the previous secret during a rotation', async () => {
    const rotating = { secrets: ['new', 'old'], token: null };
    expect((await verifyAuth({ 'x-mist-signature-v2': sign(body, 'old') }, body, rotating)).ok).toBe(true);
    expect((await verifyAuth({ 'x-mist-signature-v2': sign(body, 'new') }, body, rotating)).ok).toBe(true);
  });

  it('checks a signature when the request carries one, else the bearer token (CONTRACT section 2, 0.2)', async () => {
    const both = { secrets: ['s3cret'], token: 'tok' };
    const signature = { 'x-mist-signature-v2': sign(body, 's3cret') };
    expect(await verifyAuth(signature, body, both)).toEqual({ ok: true, method: 'signature-v2' });
    expect((await verifyAuth({ 'x-mist-signature-v2': sign(body, 'other'), authorization: 'Bearer tok' }, body, both)).ok).toBe(false);
    expect(await verifyAuth({ authorization: 'Bearer tok' }, body, both)).toEqual({ ok: true, method: 'token' });
    expect((await verifyAuth({ authorization: 'Bearer tok2' }, body, both)).ok).toBe(false);
    expect((await verifyAuth({}, body, both)).ok).toBe(false);
    expect((await verifyAuth({ authorization: 'bearer tok' }, body, { secrets: [], token: 'tok' })).ok).toBe(true);
    expect((await verifyAuth({ authorization: 'Bearer tok' }, body, { secrets: ['s3cret'], token: null })).ok).toBe(false);
  });

  it('passes everything when nothing is configured (protected mode keeps it on loopback)', async () => {
    expect(await verifyAuth({}, body, { secrets: [], token: null })).toEqual({ ok: true, method: 'none' });
  });
});
