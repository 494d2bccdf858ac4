import { webhookPathTenant } from '../domain/webhook-path';
import { consolePage } from '../console/console';
import { createHash, timingSafeEqual } from 'node:crypto';
import { readFileSync } from 'node:fs';
import http, { type Server } from 'node:http';
import https from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import express, { type Express, type NextFunction, type Request, type Response, type Router } from 'express';
import type { Registry } from 'prom-client';
import type { Logger } from '../shared/logger';
import type { Readiness } from './readiness';

export interface HttpDeps {
  host: string;
  port: number;
  adminHost: string;
  /** Equal to `port` (non-zero): one port for everything. */
  adminPort: number;
  /** PEM files: the webhook port speaks HTTPS. */
  tls?: { certFile: string; keyFile: string } | null;
  maxConnections?: number;
  requestTimeoutMs?: number;
  registry: Registry;
  readiness: Readiness;
  logger: Logger;
  /** Present when this process runs the ingress role. */
  webhook?: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  /** Decides at accept time whether a socket on the webhook port may stay (null) or is cut (why). */
  admit?: (socket: Socket) => string | null;
  /** `/api/*` routes (incidents, devices, tail, DLQ redrive). */
  api?: Router;
  /** When set, `/api/*` requires `Authorization: Bearer <token>`. */
  apiToken?: string | null;
}

export interface HttpServers {
  port: number;
  adminPort: number;
  /** Stops accepting, lets in-flight requests finish within `timeoutMs`, then cuts what is left. */
  close(timeoutMs: number): Promise<void>;
}

/**
 * CONTRACT sections 2–3: PORT (the one that faces Mist over the internet) serves only
 * `POST /webhooks/mist` (and its tenant paths) and `/healthz`; `/metrics`, `/readyz` and `/api/*` live on ADMIN_PORT.
 * ADMIN_PORT equal to PORT serves everything on one port.
 */
export async function startHttp(deps: HttpDeps): Promise<HttpServers> {
  const single = deps.adminPort === deps.port && deps.port !== 0;
  const publicApp = baseApp();
  if (deps.webhook) {
    // Reached through Express only with a query string: the fast path below takes the bare paths.
    const paths = ['/webhooks/mist', '/webhooks/mist/:org', '/webhooks/mist/:org/:site'];
    publicApp.post(paths, deps.webhook);
    publicApp.all(paths, (_req, res) => {
      res.set('allow', 'POST').status(405).json({ error: 'use POST' });
    });
  }
  const adminApp = single ? publicApp : baseApp();
  adminApp.get('/readyz', async (_req, res) => {
    const report = await deps.readiness.report();
    res.status(report.ready ? 200 : 503).json(report);
  });
  adminApp.get('/metrics', async (_req, res) => {
    res.set('content-type', deps.registry.contentType).send(await deps.registry.metrics());
  });
  // With one port facing Mist, the console and its data need API_TOKEN: nothing of it is open there.
  const closed = single && !deps.apiToken;
  const refuse = (_req: Request, res: Response): void => void res.status(403).json({ error: 'set API_TOKEN: with ADMIN_PORT equal to PORT (the port Mist reaches), the console and /api/* need it' });
  if (deps.api) adminApp.use('/api', closed ? refuse : bearer(deps.apiToken ?? null), deps.api);
  // The page itself holds no data: it asks for the token when the API answers 401.
  adminApp.get(['/', '/console/app.js', '/console/style.css'], closed ? refuse : consolePage());
  for (const app of new Set([publicApp, adminApp])) {
    app.use((_req: Request, res: Response) => {
      res.status(404).json({ error: 'not found' });
    });
    app.use((err: Error & { status?: number }, _req: Request, res: Response, _next: unknown) => {
      // Express marks what the client got wrong (a malformed %-escape in a path: 400); only the rest is ours.
      const status = typeof err.status === 'number' && err.status >= 400 && err.status < 500 ? err.status : 500;
      if (status === 500) deps.logger.error('request failed', { error: err.message });
      if (!res.headersSent) res.status(status).json({ error: status === 500 ? 'internal error' : err.message });
    });
  }

  const limits = { maxConnections: deps.maxConnections ?? 1024, requestTimeoutMs: deps.requestTimeoutMs ?? 30_000 };
  const tls = deps.tls ? { cert: readFileSync(deps.tls.certFile), key: readFileSync(deps.tls.keyFile) } : null;
  // Node checks request and header timeouts on this period (default 30 s): often enough to matter.
  const options = { connectionsCheckingInterval: Math.min(5000, Math.ceil(limits.requestTimeoutMs / 2)) };
  // The webhook is the hot path: it goes to its handler before Express's router and middleware.
  const webhook = deps.webhook;
  const publicListener: http.RequestListener = webhook
    ? (req, res) => (req.method === 'POST' && webhookPathTenant(req.url ?? '') !== undefined ? webhook(req, res) : publicApp(req, res))
    : publicApp;
  // A TLS handshake must finish within TLS_HANDSHAKE_TIMEOUT_MS (Node's default is 120 s of a socket held for nothing).
  const publicServer = tls ? https.createServer({ ...options, ...tls, handshakeTimeout: TLS_HANDSHAKE_TIMEOUT_MS }, publicListener) : http.createServer(options, publicListener);
  if (deps.admit) {
    const admit = deps.admit;
    // On the TCP connection, before any TLS handshake: a refused source never gets to hold a
    // socket through a handshake it never starts (secureConnection came only after it).
    publicServer.on('connection', (socket: Socket) => {
      if (admit(socket) !== null) socket.destroy();
    });
  }
  const servers = [await listen(publicServer, deps.host, deps.port, limits, deps.logger)];
  if (!single) servers.push(await listen(http.createServer(options, adminApp), deps.adminHost, deps.adminPort, limits, deps.logger));
  const bound = servers.map((s) => (s.address() as AddressInfo).port);
  return {
    port: bound[0]!,
    adminPort: bound[1] ?? bound[0]!,
    close: (timeoutMs) => Promise.all(servers.map((s) => closeServer(s, timeoutMs))).then(() => undefined),
  };

  function baseApp(): Express {
    const app = express();
    app.disable('x-powered-by');
    app.set('etag', false);
    app.get('/healthz', (_req, res) => {
      res.json({ status: 'ok' });
    });
    return app;
  }
}

/** API_TOKEN: constant-time comparison of digests, a JSON 401 otherwise; never logged. */
/** How long a client has to finish its TLS handshake on the webhook port. */
export const TLS_HANDSHAKE_TIMEOUT_MS = 10_000;

/** Admin writes: what deletes or re-sends data (CONTRACT section 10, admin writes). */
const DESTRUCTIVE = new Set(['/dlq/redrive', '/dlq/purge']);
const LOOPBACK_PEER = /^(127\.\d+\.\d+\.\d+|::1|::ffff:127\.\d+\.\d+\.\d+)$/;

/**
 * API_TOKEN on /api/*. Without one, reads are open (the admin port's own exposure rules apply),
 * but redrive and purge are taken only from a loopback peer (the CLI on the same host, or through
 * `kubectl exec`): the admin port listens on every address, and one unauthenticated POST from
 * another host must not delete the dead letters.
 */
function bearer(token: string | null) {
  const expected = token === null ? null : createHash('sha256').update(token).digest();
  return (req: Request, res: Response, next: NextFunction): void => {
    if (expected === null) {
      if (req.method !== 'POST' || !DESTRUCTIVE.has(req.path) || LOOPBACK_PEER.test(req.socket.remoteAddress ?? '')) return next();
      res.status(403).json({ error: 'set API_TOKEN: without it, redrive and purge are accepted only from this host (loopback)' });
      return;
    }
    const match = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? '');
    const given = createHash('sha256').update(match?.[1] ?? '').digest();
    if (match && timingSafeEqual(given, expected)) return next();
    res.status(401).set('www-authenticate', 'Bearer').json({ error: 'API_TOKEN required: send Authorization: Bearer <token>' });
  };
}

function listen(server: Server, host: string, port: number, limits: { maxConnections: number; requestTimeoutMs: number }, logger: Logger): Promise<Server> {
  return new Promise((resolve, reject) => {
    // Slow clients may not hold sockets open (slowloris): the whole request within the timeout,
    // its headers within 10 s at most; past the connection bound new sockets are refused.
    server.requestTimeout = limits.requestTimeoutMs;
    server.headersTimeout = Math.min(10_000, limits.requestTimeoutMs);
    server.keepAliveTimeout = 65_000;
    server.maxConnections = limits.maxConnections;
    // The handler goes once bound: an error later (EMFILE on accept) must not reject a settled promise and be lost.
    const failed = (err: Error): void => reject(err);
    server.once('error', failed);
    server.once('listening', () => {
      server.off('error', failed);
      server.on('error', (err) => logger.error('HTTP server error', { error: err.message }));
      resolve(server);
    });
    server.listen(port, host);
  });
}

function closeServer(server: Server, timeoutMs: number): Promise<void> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => server.closeAllConnections(), timeoutMs);
    server.close(() => {
      clearTimeout(timer);
      resolve();
    });
    server.closeIdleConnections();
  });
}
