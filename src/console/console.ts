import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Router, type Request, type Response } from 'express';
import type { Counter, Gauge } from 'prom-client';
import type { Config } from '../config/config';
import { doctorCommand } from '../commands/doctor';
import type { DlqAccess } from '../dlq/api';
import type { Readiness } from '../http/readiness';
import type { Logger } from '../shared/logger';

/**
 * The console (CONTRACT section 3, 0.3): `GET /` on the admin port and its data, `GET /api/summary`
 * and `GET /api/doctor`. The page is static (dist/web, built from console/), served with a
 * strict Content-Security-Policy: nothing inline, nothing from another origin, never framed.
 */
// dist/web beside dist/console; from the sources (tests run them in-process) the built dist/web.
const STATIC_DIR = [join(__dirname, '..', 'web'), join(__dirname, '..', '..', 'dist', 'web')].find((dir) => existsSync(join(dir, 'app.js'))) ?? join(__dirname, '..', 'web');
const FILES: Readonly<Record<string, { file: string; type: string }>> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/console/app.js': { file: 'app.js', type: 'text/javascript; charset=utf-8' },
  '/console/style.css': { file: 'style.css', type: 'text/css; charset=utf-8' },
};
const SECURITY_HEADERS = {
  'content-security-policy': "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'",
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
};

/** The page's files (read once: they change only with a new build). */
export function consolePage(): Router {
  const router = Router();
  const cache = new Map<string, Buffer>();
  for (const [path, { file, type }] of Object.entries(FILES)) {
    router.get(path, (_req: Request, res: Response) => {
      const full = join(STATIC_DIR, file);
      if (!cache.has(full)) {
        if (!existsSync(full)) {
          res.status(404).json({ error: 'the console is not built: npm run build' });
          return;
        }
        cache.set(full, readFileSync(full));
      }
      // The page is always checked again (a new version shows at once); its assets for an hour.
      res.set({ ...SECURITY_HEADERS, 'content-type': type, 'cache-control': path === '/' ? 'no-cache' : 'public, max-age=3600' }).send(cache.get(full));
    });
  }
  return router;
}

/** Webhooks per outcome over the last minute, from the counter's values sampled every 10 s. */
export class PerMinute {
  readonly #samples: Array<{ at: number; counts: Map<string, number> }> = [];
  #timer: NodeJS.Timeout;

  constructor(
    private readonly counter: Counter<'outcome'>,
    private readonly now: () => number,
  ) {
    void this.sample();
    this.#timer = setInterval(() => void this.sample(), 10_000);
    this.#timer.unref();
  }

  async sample(): Promise<Map<string, number>> {
    const counts = new Map((await this.counter.get()).values.map((v) => [String(v.labels.outcome), v.value]));
    this.#samples.push({ at: this.now(), counts });
    while (this.#samples.length > 1 && this.#samples[1]!.at <= this.now() - 60_000) this.#samples.shift();
    return counts;
  }

  async lastMinute(): Promise<Record<string, number>> {
    const current = await this.sample();
    const base = this.#samples[0]!.counts;
    const out: Record<string, number> = {};
    for (const [outcome, value] of current) if (value - (base.get(outcome) ?? 0) > 0) out[outcome] = value - (base.get(outcome) ?? 0);
    return out;
  }

  close(): void {
    clearInterval(this.#timer);
  }
}

/** Readiness checks in words, for people. */
function words(check: { ok: boolean; reason?: string; paused?: boolean }): string {
  if (check.paused) return `paused: ${check.reason ?? 'Splunk refuses the token'}`;
  if (check.ok) return check.reason ? `working (${check.reason})` : 'working';
  return check.reason ?? 'not working';
}

export interface SummaryDeps {
  readiness: Readiness;
  roles: readonly string[];
  topology: string;
  webhooks: PerMinute | null;
  lastWebhook: Gauge | null;
  dlq: DlqAccess | null;
  /** This process runs the Mist API companion: `GET /api/doctor` answers here. */
  doctor: boolean;
}

export function summaryApi(deps: SummaryDeps): Router {
  const router = Router();
  // On Kafka the letters come from the DLQ access's shared, reused read (kafkaDlq).
  const deadLetters = async (): Promise<number | null> => (deps.dlq ? (await deps.dlq.letters()).filter((l) => l.redriven_at === null).length : null);
  router.get('/summary', async (_req, res, next) => {
    try {
      const report = await deps.readiness.report();
      const checks = Object.fromEntries(Object.entries(report.checks).map(([name, check]) => [name, { ok: check.ok, words: words(check) }]));
      const hec = report.checks.splunk_sink as { ok: boolean; paused?: boolean; retrying?: boolean; reason?: string } | undefined;
      const last = deps.lastWebhook ? (await deps.lastWebhook.get()).values[0]?.value ?? 0 : 0;
      res.json({
        ready: report.ready,
        served_by: `this process runs ${deps.roles.join(', ')} (${deps.topology})`,
        checks,
        webhooks_per_minute: deps.webhooks ? await deps.webhooks.lastMinute() : null,
        last_webhook_at: last > 0 ? last * 1000 : null,
        hec: hec ? (hec.paused ? 'paused' : hec.ok ? (hec.reason ? `retrying: ${hec.reason}` : 'delivering') : `failing: ${hec.reason ?? ''}`) : 'off',
        dead_letters: await deadLetters(),
        doctor: deps.doctor,
      });
    } catch (err) {
      next(err);
    }
  });
  return router;
}

/**
 * The companion's periodic, read-only check of the Mist webhook configuration (`GET /api/doctor`):
 * `mistbridge doctor` without its ping, every `intervalMs`.
 */
export class DoctorWatch {
  #lines: Array<{ level: string; text: string }> = [];
  #checkedAt: number | null = null;
  #timer: NodeJS.Timeout;

  constructor(
    private readonly config: Config,
    private readonly logger: Logger,
    private readonly now: () => number,
    intervalMs = 3_600_000,
  ) {
    void this.check();
    this.#timer = setInterval(() => void this.check(), intervalMs);
    this.#timer.unref();
  }

  async check(): Promise<void> {
    const lines: Array<{ level: string; text: string }> = [];
    const take = (text: string): void => {
      const match = /^(ok|FAIL|note)\s+(.*)$/s.exec(text);
      lines.push(match ? { level: match[1]!, text: match[2]! } : { level: '', text });
    };
    try {
      await doctorCommand([], this.config, this.logger, { stdout: take, stderr: (text) => lines.push({ level: 'FAIL', text }) }, { ping: false });
    } catch (err) {
      lines.push({ level: 'FAIL', text: (err as Error).message });
    }
    this.#lines = lines;
    this.#checkedAt = this.now();
  }

  router(): Router {
    const router = Router();
    router.get('/doctor', (_req, res) => {
      res.json({ checked_at: this.#checkedAt, lines: this.#lines });
    });
    return router;
  }

  close(): void {
    clearInterval(this.#timer);
  }
}
