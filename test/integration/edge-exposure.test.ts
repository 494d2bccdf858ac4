import { readFileSync } from 'node:fs';
import net from 'node:net';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sign } from '../../src/ingress/verify';
import { eventually, sample } from '../helpers/fixtures';
import { SECRET, capturingLogger, metricSum, postWebhook, startPipeline } from '../helpers/pipeline';
import { startProcess } from '../helpers/process';
import { systemTool } from '../helpers/system-tool';
import { execFileSync } from 'node:child_process';

const body = sample('alarms__device-down-alarmdef.json');

/** A socket from a chosen loopback address (Linux routes all of 127/8 to lo): another "source". */
function connectFrom(port: number, localAddress: string): Promise<{ socket: net.Socket; closed: Promise<void>; reply: () => string }> {
  return new Promise((resolve) => {
    const socket = net.connect({ port, host: '127.0.0.1', localAddress });
    let reply = '';
    socket.on('data', (chunk) => (reply += chunk.toString()));
    socket.on('error', () => undefined);
    const closed = new Promise<void>((done) => socket.once('close', () => done()));
    socket.once('connect', () => resolve({ socket, closed, reply: () => reply }));
  });
}

/** Posts raw HTTP from `localAddress`, with extra headers; resolves with the status line's code (0: cut without an answer). */
async function postFrom(port: number, localAddress: string, extra: Record<string, string>, payload: Buffer = body): Promise<number> {
  const { socket, closed, reply } = await connectFrom(port, localAddress);
  const head = Object.entries({ host: 'x', 'content-type': 'application/json', 'content-length': String(payload.length), connection: 'close', 'x-mist-signature-v2': sign(payload, SECRET), ...extra })
    .map(([k, v]) => `${k}: ${v}`)
    .join('\r\n');
  socket.write(`POST /webhooks/mist HTTP/1.1\r\n${head}\r\n\r\n`);
  socket.write(payload);
  await closed;
  return Number(/^HTTP\/1\.1 (\d{3})/.exec(reply())?.[1] ?? 0);
}

describe('the webhook port exposes nothing else (CONTRACT section 2, ADMIN_PORT)', () => {
  it('serves only webhooks and /healthz on PORT; /metrics, /readyz and /api/* on the admin port, /api/* behind API_TOKEN', async () => {
    const pipeline = await startPipeline({ API_TOKEN: 'api-secret-token' });
    try {
      for (const path of ['/metrics', '/readyz', '/api/incidents', '/api/devices']) expect({ path, status: (await fetch(`${pipeline.url}${path}`)).status }).toEqual({ path, status: 404 });
      expect((await fetch(`${pipeline.url}/healthz`)).status).toBe(200);
      expect((await fetch(`${pipeline.adminUrl}/healthz`)).status).toBe(200);
      expect((await fetch(`${pipeline.adminUrl}/metrics`)).status).toBe(200);
      expect((await fetch(`${pipeline.adminUrl}/readyz`)).status).toBe(200);
      const anonymous = await fetch(`${pipeline.adminUrl}/api/incidents`);
      expect(anonymous.status).toBe(401);
      expect(await anonymous.json()).toEqual({ error: expect.stringMatching(/API_TOKEN/) });
      expect((await fetch(`${pipeline.adminUrl}/api/incidents`, { headers: { authorization: 'Bearer wrong' } })).status).toBe(401);
      expect((await fetch(`${pipeline.adminUrl}/api/incidents`, { headers: { authorization: 'Bearer api-secret-token' } })).status).toBe(200);
    } finally {
      await pipeline.stop();
    }
  });

  it('serves everything on one port when ADMIN_PORT equals PORT', async () => {
    const probe = net.createServer();
    await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
    const port = String((probe.address() as net.AddressInfo).port);
    await new Promise<void>((resolve) => probe.close(() => resolve()));
    const pipeline = await startPipeline({ PORT: port, ADMIN_PORT: port });
    try {
      expect(pipeline.http.adminPort).toBe(pipeline.http.port);
      expect((await fetch(`${pipeline.url}/metrics`)).status).toBe(200);
      expect((await postWebhook(pipeline.url, body)).status).toBe(200);
    } finally {
      await pipeline.stop();
    }
  });

  it('says in one start-up line where to point Mist, which checks are on and where the admin port is, and warns about an open admin port', async () => {
    const { logger, lines } = capturingLogger();
    const pipeline = await startPipeline({ ADMIN_HOST: '0.0.0.0' }, { logger });
    try {
      const ready = lines.find((l) => l.message === 'ready')!;
      expect(ready).toMatchObject({
        webhook_url: `http://127.0.0.1:${pipeline.http.port}/webhooks/mist`,
        auth: ['hmac (1 secret)'],
        admin_url: `http://<this host>:${pipeline.http.adminPort}`,
        splunk: 'off',
        port: pipeline.http.port,
        adminPort: pipeline.http.adminPort,
      });
      expect(JSON.stringify(lines)).not.toContain(SECRET);
      expect(lines.some((l) => l.level === 'warn' && /without API_TOKEN/.test(l.message as string))).toBe(true);
    } finally {
      await pipeline.stop();
    }
  });
});

describe('MIST_SOURCE_ALLOW and TRUSTED_PROXIES', () => {
  it('closes a disallowed peer at accept; an allowed peer still gets in while it holds hundreds of sockets', async () => {
    const pipeline = await startPipeline({ MIST_SOURCE_ALLOW: '127.0.0.1' });
    try {
      const idle = await Promise.all(Array.from({ length: 300 }, () => connectFrom(pipeline.http.port, '127.0.0.2')));
      await Promise.all(idle.map((c) => c.closed)); // every one cut at once, none answered
      expect(idle.every((c) => c.reply() === '')).toBe(true);
      expect(await postFrom(pipeline.http.port, '127.0.0.1', {})).toBe(200);
      expect(await metricSum(pipeline, 'mistbridge_webhooks_total', { outcome: 'bad_signature' })).toBe(300);
    } finally {
      await pipeline.stop();
    }
  });

  it('ignores X-Forwarded-For without trusted proxies', async () => {
    const pipeline = await startPipeline({ MIST_SOURCE_ALLOW: '54.193.71.17' });
    try {
      expect(await postFrom(pipeline.http.port, '127.0.0.1', { 'x-forwarded-for': '54.193.71.17' })).toBe(0);
    } finally {
      await pipeline.stop();
    }
  });

  it('behind a trusted proxy, checks the right-most untrusted X-Forwarded-For entry (never the left-most, which the client writes)', async () => {
    const pipeline = await startPipeline({ MIST_SOURCE_ALLOW: '54.193.71.17', TRUSTED_PROXIES: '127.0.0.1,10.0.0.0/8' });
    try {
      expect(await postFrom(pipeline.http.port, '127.0.0.1', { 'x-forwarded-for': '54.193.71.17' })).toBe(200);
      expect(await postFrom(pipeline.http.port, '127.0.0.1', { 'x-forwarded-for': '6.6.6.6, 54.193.71.17, 10.1.2.3' })).toBe(200);
      expect(await postFrom(pipeline.http.port, '127.0.0.1', { 'x-forwarded-for': '54.193.71.17, 6.6.6.6' })).toBe(403);
      expect(await postFrom(pipeline.http.port, '127.0.0.1', {})).toBe(403);
      // Not a trusted proxy: its header means nothing, and it is closed at accept.
      expect(await postFrom(pipeline.http.port, '127.0.0.3', { 'x-forwarded-for': '54.193.71.17' })).toBe(0);
    } finally {
      await pipeline.stop();
    }
  });

  it.each([
    // [X-Forwarded-For written by the proxy chain, status] — MIST_SOURCE_ALLOW 54.193.1.2, 2001:db8::7
    ['54.193.1.2:443', 200], // a hop with its port (genuine): believed
    ['[2001:db8::7]:443', 200], // bracketed IPv6 with a port
    ['[2001:db8::7]', 200],
    ['2001:db8::7', 200],
    ['54.193.1.2, 198.51.100.7:51234', 403], // the right-most hop is a port-suffixed address outside the list
    ['54.193.1.2, unknown', 403], // "unknown": the walk stops there (never believes the hop before it)
    ['54.193.1.2, ', 403], // empty
    ['54.193.1.2, not-an-address', 403],
    ['54.193.1.2, 10.1.2.3', 200], // a trusted proxy is walked past
  ])('behind a trusted proxy, X-Forwarded-For %j → %i', async (forwarded, status) => {
    const pipeline = await startPipeline({ MIST_SOURCE_ALLOW: '54.193.1.2,2001:db8::7', TRUSTED_PROXIES: '127.0.0.1,10.0.0.0/8' });
    try {
      expect(await postFrom(pipeline.http.port, '127.0.0.1', { 'x-forwarded-for': forwarded as string })).toBe(status);
    } finally {
      await pipeline.stop();
    }
  });

  it('without API_TOKEN, redrive and purge are taken only from a loopback peer; reads stay open', async () => {
    const pipeline = await startPipeline({ ADMIN_HOST: '0.0.0.0' });
    try {
      // another host: the admin port seen from a non-loopback address of this machine
      const external = Object.values((await import('node:os')).networkInterfaces()).flat().find((i) => i && i.family === 'IPv4' && !i.internal)?.address;
      for (const path of ['/api/dlq/purge', '/api/dlq/redrive']) {
        const local = await fetch(`${pipeline.adminUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ olderThanS: 1, stage: 'splunk' }) });
        expect(local.status).not.toBe(403);
        if (external) {
          const remote = await fetch(`http://${external}:${pipeline.http.adminPort}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: '{}' });
          expect(remote.status).toBe(403);
          expect(await remote.json()).toEqual({ error: expect.stringMatching(/^set API_TOKEN/) });
        }
      }
      if (external) expect((await fetch(`http://${external}:${pipeline.http.adminPort}/api/dlq`)).status).not.toBe(403);
      else console.warn('no non-loopback address on this machine: the remote half of the admin test did not run');
    } finally {
      await pipeline.stop();
    }
  });

  it('with the built-in TLS listener, admits on the TCP connection: sockets from a refused source that never send a ClientHello are cut at once', async () => {
    const openssl = systemTool('openssl', 'openssl');
    if (!openssl.path) return console.warn(`skipped: ${openssl.skipReason}`);
    const dir = mkdtempSync(join(tmpdir(), 'mistbridge-tls-'));
    execFileSync(openssl.path, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
    const pipeline = await startPipeline({ TLS_CERT_FILE: join(dir, 'cert.pem'), TLS_KEY_FILE: join(dir, 'key.pem'), MIST_SOURCE_ALLOW: '127.0.0.1', MISTBRIDGE_ROLES: 'ingress,normalizer' });
    try {
      const idle = await Promise.all(Array.from({ length: 200 }, () => connectFrom(pipeline.http.port, '127.0.0.2')));
      // counted as refused at once; before, admission waited for a handshake that never came
      await eventually(async () => (await metricSum(pipeline, 'mistbridge_webhooks_total', { outcome: 'bad_signature' })) === 200, 'every idle socket refused', 5000);
      await Promise.all(idle.map((c) => c.closed));
      expect(idle.every((c) => c.reply() === '')).toBe(true);
    } finally {
      await pipeline.stop();
    }
  });

  it('caps connections per source (HTTP_MAX_CONNECTIONS_PER_SOURCE), trusted proxies exempt', async () => {
    const pipeline = await startPipeline({ HTTP_MAX_CONNECTIONS_PER_SOURCE: '5', TRUSTED_PROXIES: '127.0.0.4' });
    try {
      const held = await Promise.all(Array.from({ length: 8 }, () => connectFrom(pipeline.http.port, '127.0.0.3')));
      await new Promise((resolve) => setTimeout(resolve, 100));
      const open = held.filter((c) => !c.socket.destroyed && c.socket.readyState === 'open');
      await eventually(async () => (await Promise.all(held.map((c) => Promise.race([c.closed.then(() => 1), new Promise((r) => setTimeout(() => r(0), 20))])))).reduce<number>((a, b) => a + (b as number), 0) === 3, 'three sockets over the cap cut');
      expect(open.length).toBeGreaterThanOrEqual(5);
      expect(await postFrom(pipeline.http.port, '127.0.0.1', {})).toBe(200);
      const proxied = await Promise.all(Array.from({ length: 8 }, () => connectFrom(pipeline.http.port, '127.0.0.4')));
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(proxied.every((c) => !c.socket.destroyed)).toBe(true);
      for (const c of [...held, ...proxied]) c.socket.destroy();
    } finally {
      await pipeline.stop();
    }
  });
});

describe('unauthenticated uploads cannot exhaust memory', () => {
  jest.setTimeout(60_000);

  it.each([['directly'], ['through a trusted proxy']])(
    '80 unfinished 5 MiB uploads with a bogus signature (%s): bounded RSS, 503 beyond INGRESS_MAX_READING_BYTES, allowed webhooks still accepted',
    async (path) => {
      const proxied = path !== 'directly';
      const p = await startProcess({
        MIST_WEBHOOK_SECRET: SECRET,
        DATA_DIR: mkdtempSync(join(tmpdir(), 'mistbridge-uploads-')),
        INGRESS_MAX_READING_BYTES: String(32 * 1024 * 1024),
        HTTP_MAX_CONNECTIONS_PER_SOURCE: '1000',
        ...(proxied ? { TRUSTED_PROXIES: '127.0.0.1' } : {}),
      });
      const rss = (): number => Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${p.child.pid}/status`, 'utf8'))![1]) / 1024;
      const sockets: net.Socket[] = [];
      try {
        const before = rss();
        const uploads = await Promise.all(
          Array.from({ length: 80 }, async (_, i) => {
            const upload = await connectFrom(p.port, '127.0.0.1');
            sockets.push(upload.socket);
            upload.socket.write(
              `POST /webhooks/mist HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\ncontent-length: ${5 * 1024 * 1024}\r\nx-mist-signature-v2: ${'0'.repeat(64)}\r\n${proxied ? `x-forwarded-for: 54.193.71.${i}\r\n` : ''}\r\n`,
            );
            // Part of the body, then nothing more: the ingress may not hold what it cannot check yet.
            upload.socket.write(Buffer.alloc(2 * 1024 * 1024, 0x20));
            return upload;
          }),
        );
        const statuses = (): number[] => uploads.map((u) => Number(/^HTTP\/1\.1 (\d{3})/.exec(u.reply())?.[1] ?? 0));
        // At most 32 MiB of declared bodies are read at once: six uploads; the others are refused at their headers.
        await eventually(() => statuses().filter((s) => s === 503).length >= 80 - 7, 'the uploads beyond the bound refused', 20_000);
        const shed = statuses().filter((s) => s === 503).length;
        expect(shed).toBeGreaterThanOrEqual(80 - 32 / 5 - 1);
        expect(statuses().every((s) => s === 0 || s === 503)).toBe(true);
        expect(rss() - before).toBeLessThan(120);
        expect((await postWebhook(p.url, body)).status).toBe(200);
        // Every refusal counted: the counter moves before the reply reaches the client, so wait for both to agree.
        const counted = async (): Promise<number> => Number(/mistbridge_webhooks_total\{outcome="unavailable"\} (\d+)/.exec(await (await fetch(`${p.adminUrl}/metrics`)).text())?.[1]);
        await eventually(async () => (await counted()) === statuses().filter((s) => s === 503).length, 'each refused upload counted once');
      } finally {
        for (const s of sockets) s.destroy();
        p.child.kill('SIGKILL');
        await p.exited;
      }
    },
  );
});
