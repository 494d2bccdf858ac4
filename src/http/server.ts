import { readFileSync } from 'node:fs';
import http, { type Server } from 'node:http';
import https from 'node:https';
import type { AddressInfo } from 'node:net';
import express, { type Express, type Request, type Response, type Router } from 'express';
import type { Registry } from 'prom-client';
import type { Logger } from '../shared/logger';
import type { Readiness } from './readiness';

export interface HttpDeps {
  host: string;
  port: number;
  adminPort: number | null;
  /** PEM files: the webhook port speaks HTTPS. */
  tls?: { certFile: string; keyFile: string } | null;
  maxConnections?: number;
  requestTimeoutMs?: number;
  registry: Registry;
  readiness: Readiness;
  logger: Logger;
  /** Present when this process runs the ingress role. */
  webhook?: (req: http.IncomingMessage, res: http.ServerResponse) => void;
  /** Present when this process runs the correlator role. */
  api?: Router;
}

export interface HttpServers {
  port: number;
  adminPort: number | null;
  /** Stops accepting, lets in-flight requests finish within `timeoutMs`, then cuts what is left. */
  close(timeoutMs: number): Promise<void>;
}

/**
 * PORT serves webhooks and /healthz; /readyz, /metrics and /api/* live on ADMIN_PORT when it is set,
 * else on PORT too (CONTRACT sections 2 and 3).
 */
export async function startHttp(deps: HttpDeps): Promise<HttpServers> {
  const publicApp = baseApp();
  if (deps.webhook) {
    publicApp.post('/webhooks/mist', deps.webhook); // reached through Express only with a query string: the fast path below takes the bare path
    publicApp.all('/webhooks/mist', (_req, res) => {
      res.set('allow', 'POST').status(405).json({ error: 'use POST' });
    });
  }
  const adminApp = deps.adminPort !== null ? baseApp() : publicApp;
  adminApp.get('/readyz', async (_req, res) => {
    const report = await deps.readiness.report();
    res.status(report.ready ? 200 : 503).json(report);
  });
  adminApp.get('/metrics', async (_req, res) => {
    res.set('content-type', deps.registry.contentType).send(await deps.registry.metrics());
  });
  if (deps.api) adminApp.use('/api', deps.api);
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
    ? (req, res) => (req.method === 'POST' && req.url === '/webhooks/mist' ? webhook(req, res) : publicApp(req, res))
    : publicApp;
  const servers = [
    await listen(tls ? https.createServer({ ...options, ...tls }, publicListener) : http.createServer(options, publicListener), deps.host, deps.port, limits),
  ];
  if (adminApp !== publicApp) servers.push(await listen(http.createServer(options, adminApp), deps.host, deps.adminPort!, limits));
  return {
    port: (servers[0]!.address() as AddressInfo).port,
    adminPort: servers[1] ? (servers[1].address() as AddressInfo).port : null,
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

function listen(server: Server, host: string, port: number, limits: { maxConnections: number; requestTimeoutMs: number }): Promise<Server> {
  return new Promise((resolve, reject) => {
    // Slow clients may not hold sockets open (slowloris): the whole request within the timeout,
    // its headers within 10 s at most; past the connection bound new sockets are refused.
    server.requestTimeout = limits.requestTimeoutMs;
    server.headersTimeout = Math.min(10_000, limits.requestTimeoutMs);
    server.keepAliveTimeout = 65_000;
    server.maxConnections = limits.maxConnections;
    server.once('listening', () => resolve(server));
    server.once('error', reject);
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
