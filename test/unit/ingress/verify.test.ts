import { sign, verifyAuth } from '../../../src/ingress/verify';

const body = Buffer.from('{"topic":"alarms","events":[]}');

describe('verifyAuth (CONTRACT section 3)', () => {
  const settings = { secrets: ['s3cret'], token: null };

  it('accepts a valid v2 signature', () => {
    expect(verifyAuth({ 'x-mist-signature-v2': sign(body, 's3cret') }, body, settings)).toEqual({ ok: true, method: 'signature-v2' });
  });

  it('accepts the SHA-1 header only when v2 is absent', () => {
    expect(verifyAuth({ 'x-mist-signature': sign(body, 's3cret', 'sha1') }, body, settings)).toEqual({ ok: true, method: 'signature-v1' });
    expect(verifyAuth({ 'x-mist-signature': sign(body, 's3cret', 'sha1'), 'x-mist-signature-v2': 'bad' }, body, settings).ok).toBe(false);
  });

  it('accepts upper-case hex as the same digest', () => {
    expect(verifyAuth({ 'x-mist-signature-v2': sign(body, 's3cret').toUpperCase() }, body, settings).ok).toBe(true);
  });

  it.each([
    ['no header', {}],
    ['wrong secret', { 'x-mist-signature-v2': sign(body, 'other') }],
    ['truncated digest', { 'x-mist-signature-v2': sign(body, 's3cret').slice(0, 40) }],
    ['not hex', { 'x-mist-signature-v2': 'z'.repeat(64) }],
    ['sha256= prefix', { 'x-mist-signature-v2': `sha256=${sign(body, 's3cret')}` }],
  ])('rejects %s', (_label, headers) => {
    expect(verifyAuth(headers, body, settings).ok).toBe(false);
  });

  it('rejects a signature over a re-serialised body', () => {
    const reserialised = Buffer.from(JSON.stringify(JSON.parse(body.toString()), null, 2));
    expect(verifyAuth({ 'x-mist-signature-v2': sign(reserialised, 's3cret') }, body, settings).ok).toBe(false);
  });

  it('accepts the previous secret during a rotation', () => {
    const rotating = { secrets: ['new', 'old'], token: null };
    expect(verifyAuth({ 'x-mist-signature-v2': sign(body, 'old') }, body, rotating).ok).toBe(true);
    expect(verifyAuth({ 'x-mist-signature-v2': sign(body, 'new') }, body, rotating).ok).toBe(true);
  });

  it('requires every configured check', () => {
    const both = { secrets: ['s3cret'], token: 'tok' };
    const signature = { 'x-mist-signature-v2': sign(body, 's3cret') };
    expect(verifyAuth(signature, body, both).ok).toBe(false);
    expect(verifyAuth({ ...signature, authorization: 'Bearer tok' }, body, both)).toEqual({ ok: true, method: 'signature-v2+token' });
    expect(verifyAuth({ ...signature, authorization: 'Bearer tok2' }, body, both).ok).toBe(false);
    expect(verifyAuth({ authorization: 'bearer tok' }, body, { secrets: [], token: 'tok' }).ok).toBe(true);
  });

  it('passes everything when nothing is configured (protected mode keeps it on loopback)', () => {
    expect(verifyAuth({}, body, { secrets: [], token: null })).toEqual({ ok: true, method: 'none' });
  });
});
