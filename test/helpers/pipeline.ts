import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../../src/config/load';
import { run, type Runtime } from '../../src/runtime/run';
import { sign } from '../../src/ingress/verify';
import { silentLogger } from '../../src/shared/logger';

export const SECRET = 'mist-webhook-test-secret';

/** A whole embedded mistbridge on loopback port 0 with its own DATA_DIR. */
export async function startPipeline(env: Record<string, string> = {}): Promise<Runtime & { url: string; dataDir: string }> {
  const dataDir = env.DATA_DIR ?? mkdtempSync(join(tmpdir(), 'mistbridge-test-'));
  const config = loadConfig({ PORT: '0', HOST: '127.0.0.1', MIST_WEBHOOK_SECRET: SECRET, DATA_DIR: dataDir, DRAIN_TIMEOUT_MS: '3000', ...env });
  const runtime = await run(config, silentLogger());
  return Object.assign(runtime, { url: `http://127.0.0.1:${runtime.http.port}`, dataDir });
}

/** Posts a body the way Mist does: raw bytes, JSON content type, v2 signature. */
export async function postWebhook(url: string, body: Buffer | string, secret = SECRET): Promise<{ status: number; body: unknown; headers: Headers }> {
  const response = await fetch(`${url}/webhooks/mist`, {
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
