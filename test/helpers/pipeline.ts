import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load';
import { run, type RunOptions, type Runtime } from '../../src/runtime/run';
import { sign } from '../../src/ingress/verify';
import { Writable } from 'node:stream';
import winston from 'winston';
import { silentLogger, type Logger } from '../../src/shared/logger';

export const SECRET = 'mist-webhook-test-secret';

/** A whole embedded mistbridge on loopback port 0 with its own DATA_DIR. */
export async function startPipeline(env: Record<string, string> = {}, options: RunOptions & { logger?: Logger } = {}): Promise<Runtime & { url: string; adminUrl: string; dataDir: string }> {
  const dataDir = env.DATA_DIR ?? mkdtempSync(join(tmpdir(), 'mistbridge-test-'));
  const config = loadConfig({ PORT: '0', ADMIN_PORT: '0', HOST: '127.0.0.1', MIST_WEBHOOK_SECRET: SECRET, DATA_DIR: dataDir, DRAIN_TIMEOUT_MS: '3000', ...env });
  const runtime = await run(config, options.logger ?? (process.env.TEST_LOG ? (await import('../../src/shared/logger')).createLogger(process.env.TEST_LOG) : silentLogger()), options);
  return Object.assign(runtime, { url: `http://127.0.0.1:${runtime.http.port}`, adminUrl: `http://127.0.0.1:${runtime.http.adminPort}`, dataDir });
}

/** Posts a body the way Mist does: raw bytes, JSON content type, v2 signature. */
export async function postWebhook(url: string, body: Buffer | string, secret = SECRET, path = '/webhooks/mist'): Promise<{ status: number; body: unknown; headers: Headers }> {
  const response = await fetch(`${url}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', 'x-mist-signature-v2': sign(body, secret) },
    body,
  });
  return { status: response.status, body: await response.json(), headers: response.headers };
}

type Pipeline = Awaited<ReturnType<typeof startPipeline>>;

/** The series of one metric family of a running pipeline. */
export async function metricValues(pipeline: Pipeline, name: string): Promise<Array<{ labels: Partial<Record<string, string | number>>; value: number }>> {
  return (await pipeline.metrics.registry.getSingleMetric(name)!.get()).values;
}

/** The sum of a family's series whose labels match `labels`. */
export async function metricSum(pipeline: Pipeline, name: string, labels: Record<string, string>): Promise<number> {
  return (await metricValues(pipeline, name)).filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((sum, v) => sum + v.value, 0);
}

/** A logger that keeps what it is given, for tests that check what is (not) logged. */
export function capturingLogger(): { logger: Logger; lines: Array<Record<string, unknown>> } {
  const lines: Array<Record<string, unknown>> = [];
  const transport = new winston.transports.Stream({ stream: new Writable({ objectMode: true, write: (info, _enc, done) => (lines.push(info as Record<string, unknown>), done()) }) });
  return { logger: winston.createLogger({ level: 'debug', transports: [transport] }), lines };
}
