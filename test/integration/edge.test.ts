import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { sign } from '../../src/ingress/verify';
import { FakeHec } from '../helpers/fake-hec';
import { eventIdsOf } from '../helpers/events';
import { eventually, sample, sampleJson } from '../helpers/fixtures';
import { SECRET, postWebhook, startPipeline } from '../helpers/pipeline';
import { startProcess } from '../helpers/process';
import { systemTool } from '../helpers/system-tool';

type Pipeline = Awaited<ReturnType<typeof startPipeline>>;
const body = sample('alarms__device-down-alarmdef.json');
const headers = { 'content-type': 'application/json', 'x-mist-signature-v2': sign(body, SECRET) };

/** Sends raw bytes on a socket and resolves with what came back and whether the server closed it. */
function rawExchange(port: number, data: string, waitMs: number): Promise<{ reply: string; closed: boolean }> {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    let reply = '';
    let closed = false;
    socket.on('data', (chunk) => (reply += chunk.toString()));
    socket.on('error', () => undefined);
    socket.on('close', () => (closed = true));
    socket.write(data);
    setTimeout(() => {
      socket.destroy();
      resolve({ reply, closed });
    }, waitMs);
  });
}

describe('the HTTP edge', () => {
  let pipeline: Pipeline | null = null;
  afterEach(async () => {
    await pipeline?.stop();
    pipeline = null;
  });

  it('cuts off a client that never finishes its headers (slowloris)', async () => {
    pipeline = await startPipeline({ HTTP_REQUEST_TIMEOUT_MS: '1000', MISTBRIDGE_ROLES: 'ingress,normalizer' });
    const { closed } = await rawExchange(pipeline.http.port, 'POST /webhooks/mist HTTP/1.1\r\nHost: x\r\nX-Slow: ', 3500);
    expect(closed).toBe(true);
  });

  it('refuses connections beyond HTTP_MAX_CONNECTIONS and keeps serving the others', async () => {
    pipeline = await startPipeline({ HTTP_MAX_CONNECTIONS: '2', MISTBRIDGE_ROLES: 'ingress,normalizer' });
    const port = pipeline.http.port;
    const held = [net.connect(port, '127.0.0.1'), net.connect(port, '127.0.0.1')];
    await new Promise((r) => setTimeout(r, 200));
    const third = await rawExchange(port, 'GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n', 500);
    expect(third.reply).toBe('');
    expect(third.closed).toBe(true);
    for (const socket of held) socket.destroy();
    await eventually(async () => (await fetch(`${pipeline!.url}/healthz`, { signal: AbortSignal.timeout(1000) }).catch(() => null))?.status === 200, 'served again');
  });

  it('takes chunked bodies, refuses gzip-encoded ones with 415 and oversized headers with 431', async () => {
    pipeline = await startPipeline({ MISTBRIDGE_ROLES: 'ingress,normalizer' });
    const text = body.toString();
    const chunked = `POST /webhooks/mist HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nX-Mist-Signature-v2: ${sign(body, SECRET)}\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n${(10).toString(16)}\r\n${text.slice(0, 10)}\r\n${(text.length - 10).toString(16)}\r\n${text.slice(10)}\r\n0\r\n\r\n`;
    expect((await rawExchange(pipeline.http.port, chunked, 500)).reply).toMatch(/^HTTP\/1.1 200/);
    const gzipped = gzipSync(body);
    const gz = await fetch(`${pipeline.url}/webhooks/mist`, { method: 'POST', headers: { ...headers, 'content-encoding': 'gzip', 'x-mist-signature-v2': sign(gzipped, SECRET) }, body: gzipped });
    expect(gz.status).toBe(415);
    const huge = await rawExchange(pipeline.http.port, `GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ${'a'.repeat(20000)}\r\n\r\n`, 500);
    expect(huge.reply).toMatch(/^HTTP\/1.1 431/);
  });
});

const openssl = systemTool('openssl', 'openssl');
(openssl.path ? describe : describe.skip)('native TLS', () => {
  it('serves webhooks over HTTPS with TLS_CERT_FILE and TLS_KEY_FILE', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mistbridge-tls-'));
    execFileSync(openssl.path!, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    const pipeline = await startPipeline({ TLS_CERT_FILE: join(dir, 'cert.pem'), TLS_KEY_FILE: join(dir, 'key.pem'), MISTBRIDGE_ROLES: 'ingress,normalizer' });
    try {
      const status = await new Promise<number>((resolve, reject) => {
        const request = https.request(
          { host: '127.0.0.1', port: pipeline.http.port, path: '/webhooks/mist', method: 'POST', headers, ca: readFileSync(join(dir, 'cert.pem')) },
          (response) => {
            response.resume();
            resolve(response.statusCode ?? 0);
          },
        );
        request.on('error', reject);
        request.end(body);
      });
      expect(status).toBe(200);
      await expect(fetch(`http://127.0.0.1:${pipeline.http.port}/healthz`)).rejects.toThrow();
      // The image's HEALTHCHECK: the admin port stays plain HTTP beside a TLS webhook port.
      expect(await healthcheck({ TLS_CERT_FILE: join(dir, 'cert.pem'), PORT: String(pipeline.http.port), ADMIN_PORT: String(pipeline.http.adminPort) })).toBe(0);
    } finally {
      await pipeline.stop();
    }
    // One port for everything (ADMIN_PORT = PORT): HTTPS; and nothing listening: unhealthy.
    const port = await freePort();
    const one = await startPipeline({ TLS_CERT_FILE: join(dir, 'cert.pem'), TLS_KEY_FILE: join(dir, 'key.pem'), MISTBRIDGE_ROLES: 'ingress,normalizer', PORT: String(port), ADMIN_PORT: String(port) });
    try {
      expect(await healthcheck({ TLS_CERT_FILE: join(dir, 'cert.pem'), PORT: String(port), ADMIN_PORT: String(port) })).toBe(0);
    } finally {
      await one.stop();
    }
    expect(await healthcheck({ PORT: String(port), ADMIN_PORT: String(port) })).toBe(1);
  });
});

/** Runs scripts/healthcheck.js (the image's HEALTHCHECK) with `env`: its exit code. */
function healthcheck(env: Record<string, string>): Promise<number | null> {
  const child = spawn(process.execPath, [join(__dirname, '..', '..', 'scripts', 'healthcheck.js')], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: 'ignore' });
  return new Promise((resolve) => child.once('exit', resolve));
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

describe('secrets stay secret', () => {
  it('never appear in logs or replies, even at debug level', async () => {
    const secret = 'zz-webhook-secret-zz';
    const hecToken = 'zz-hec-token-zz';
    const hec = await new FakeHec('another-token').start();
    const proc = await startProcess({
      MIST_WEBHOOK_SECRET: secret,
      MIST_WEBHOOK_TOKEN: 'zz-bearer-zz',
      SPLUNK_HEC_URL: hec.url,
      SPLUNK_HEC_TOKEN: hecToken, // refused by the fake HEC: the pause is logged
      SPLUNK_HEC_RETRY_MAX_MS: '100',
      DATA_DIR: mkdtempSync(join(tmpdir(), 'mistbridge-secret-')),
      LOG_LEVEL: 'debug',
    });
    try {
      const wrong = await fetch(`${proc.url}/webhooks/mist`, { method: 'POST', headers: { ...headers, authorization: 'Bearer nope' }, body });
      const wrongText = await wrong.text();
      const right = await fetch(`${proc.url}/webhooks/mist`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', 'x-mist-signature-v2': sign(body, secret), authorization: 'Bearer zz-bearer-zz' },
        body,
      });
      expect(right.status).toBe(200);
      await eventually(() => proc.logs.some((l) => String(l.message).includes('paused')), 'the HEC pause logged');
      const everything = JSON.stringify(proc.logs) + wrongText + (await (await fetch(`${proc.adminUrl}/readyz`)).text());
      for (const value of [secret, hecToken, 'zz-bearer-zz']) expect(everything).not.toContain(value);
    } finally {
      proc.child.kill('SIGKILL');
      await hec.stop();
    }
  });
});

describe('privacy', () => {
  const guest = sampleJson('guest-authorizations__portal.json');
  const guestBody = JSON.stringify(guest);

  it.each([
    ['redact', { PRIVACY_MODE: 'redact' }, (v: string) => v === '[redacted]'],
    ['hash', { PRIVACY_MODE: 'hash', PRIVACY_HASH_KEY: 'k' }, (v: string) => /^hmac:[0-9a-f]{24}$/.test(v)],
  ])('%s: guest names, e-mails and phone numbers never reach Splunk', async (_mode, env, looksHidden) => {
    const hec = await new FakeHec().start();
    const pipeline = await startPipeline({ ...env, SPLUNK_HEC_URL: hec.url, SPLUNK_HEC_TOKEN: hec.token, SPLUNK_HEC_LINGER_MS: '10', MISTBRIDGE_ROLES: 'ingress,normalizer,splunk' });
    try {
      await postWebhook(pipeline.url, guestBody);
      await eventually(() => hec.events().length === 1, 'guest event at HEC');
      const sent = JSON.stringify(hec.indexed);
      for (const value of ['Dr Strange', 'abcd@abcd.com', '+0123456789', 'sponsor@gmail.com']) expect(sent).not.toContain(value);
      const attributes = hec.events()[0]!.event.attributes as Record<string, string>;
      expect(looksHidden(attributes.email!)).toBe(true);
      expect(attributes.ssid).toBe('Portal Auth'); // not personal: kept
    } finally {
      await pipeline.stop();
      await hec.stop();
    }
  });
});

/** A real full disk: a tiny tmpfs as DATA_DIR (needs mount rights, which CI's root has). */
function smallDisk(kib: number): string | null {
  const dir = mkdtempSync(join(tmpdir(), 'mistbridge-full-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${kib}k`, 'tmpfs', dir], { stdio: 'ignore' });
    return dir;
  } catch {
    return null;
  }
}

function canMount(): boolean {
  const probe = smallDisk(16);
  if (probe) execFileSync('umount', [probe]);
  return probe !== null;
}

describe('DATA_DIR full', () => {
  const mountable = canMount();
  if (!mountable) console.warn('skipping the full-disk test: cannot mount a tmpfs here (needs root)');
  (mountable ? it : it.skip)('answers 503 instead of 200-then-lose, says why, and recovers once space is freed', async () => {
    const dir = smallDisk(96);
    const hec = await new FakeHec().start();
    hec.down = { status: 503, code: 9, text: 'Server is busy' }; // nothing is checkpointed: the journal only grows
    const pipeline = await startPipeline({ DATA_DIR: dir!, SPLUNK_HEC_URL: hec.url, SPLUNK_HEC_TOKEN: hec.token, SPLUNK_HEC_RETRY_MAX_MS: '200', MISTBRIDGE_ROLES: 'ingress,normalizer,splunk' });
    try {
      const accepted: string[] = [];
      let refused = 0;
      for (let n = 0; n < 200 && refused === 0; n++) {
        const alarm = sampleJson('alarms__device-down-alarmdef.json');
        alarm.events[0] = { ...alarm.events[0], id: `disk-${n}`, pad: 'x'.repeat(1500) };
        const text = JSON.stringify(alarm);
        const { status } = await postWebhook(pipeline.url, text);
        if (status === 200) accepted.push(text);
        else if (status === 503) refused++;
      }
      expect(refused).toBe(1);
      expect(accepted.length).toBeGreaterThan(5);
      const ready = await (await fetch(`${pipeline.adminUrl}/readyz`)).json() as { checks: { ingress: { reason: string } } };
      expect(ready.checks.ingress.reason).toMatch(/journal write failed: .*(ENOSPC|no space)/i);

      execFileSync('mount', ['-o', 'remount,size=4m', dir!]);
      hec.down = null;
      await eventually(async () => (await postWebhook(pipeline.url, body)).status === 200, 'accepting again after space was freed');
      const ids = eventIdsOf(accepted);
      await eventually(() => hec.hasAll(ids), 'every accepted webhook delivered');
    } finally {
      await pipeline.stop();
      await hec.stop();
      execFileSync('umount', [dir!]);
    }
  });
});
