import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { FakeHec } from '../helpers/fake-hec';
import { eventually, sample, sampleFiles } from '../helpers/fixtures';
import { SECRET, postWebhook } from '../helpers/pipeline';
import { startProcess, type MistbridgeProcess } from '../helpers/process';
import { systemTool } from '../helpers/system-tool';

/**
 * A real Prometheus (Debian `prometheus`) on loopback scrapes a live mistbridge after the sample
 * replay, with the project's rule file: every Grafana query returns data with its variables at
 * All, and every rule evaluates without error.
 */
const ROOT = join(__dirname, '..', '..');
const prometheus = systemTool('prometheus', 'prometheus');
if (prometheus.skipReason) console.warn(`skipping the live Prometheus test: ${prometheus.skipReason}`);

type Panel = { title: string; targets: Array<{ expr: string }> };
const dashboard = JSON.parse(readFileSync(join(ROOT, 'helm', 'mistbridge', 'files', 'mistbridge.json'), 'utf8')) as { panels: Panel[]; templating: { list: Array<{ name: string; allValue?: string }> } };

/** A query with the dashboard's variables at All (their allValue). */
function atAll(expr: string): string {
  let out = expr;
  for (const v of dashboard.templating.list) if (v.allValue) out = out.replaceAll(`$${v.name}`, v.allValue);
  return out;
}

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const server = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

(prometheus.path ? describe : describe.skip)('Grafana dashboard and alert rules against a real Prometheus', () => {
  jest.setTimeout(60_000);
  let hec: FakeHec;
  let mistbridge: MistbridgeProcess;
  let server: ChildProcess;
  let api: string;
  const query = async (expr: string): Promise<{ status: string; error?: string; data?: { result: unknown[] } }> =>
    (await (await fetch(`${api}/api/v1/query?query=${encodeURIComponent(expr)}`)).json()) as { status: string; data?: { result: unknown[] } };

  beforeAll(async () => {
    hec = await new FakeHec().start();
    mistbridge = await startProcess({
      MIST_WEBHOOK_SECRET: SECRET,
      DATA_DIR: mkdtempSync(join(tmpdir(), 'mistbridge-prom-')),
      SPLUNK_HEC_URL: hec.url,
      SPLUNK_HEC_TOKEN: hec.token,
      SPLUNK_HEC_LINGER_MS: '10',
    });
    for (const file of sampleFiles()) await postWebhook(mistbridge.url, sample(file));
    await postWebhook(mistbridge.url, sample(sampleFiles()[0]!)); // a repeat: a duplicate dropped
    await eventually(() => hec.indexed.length > 50, 'events at the HEC stand-in');

    const dir = mkdtempSync(join(tmpdir(), 'mistbridge-prometheus-'));
    writeFileSync(
      join(dir, 'prometheus.yml'),
      [
        'global: { scrape_interval: 1s, evaluation_interval: 1s }',
        `rule_files: [${JSON.stringify(join(ROOT, 'helm', 'mistbridge', 'files', 'mistbridge.rules.yml'))}]`,
        'scrape_configs:',
        '  - job_name: mistbridge',
        `    static_configs: [{ targets: ["127.0.0.1:${mistbridge.adminPort}"] }]`,
      ].join('\n'),
    );
    const port = await freePort();
    api = `http://127.0.0.1:${port}`;
    server = spawn(prometheus.path!, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: 'ignore' });
    await eventually(async () => (await fetch(`${api}/-/ready`).catch(() => null))?.ok === true, 'Prometheus ready', 20_000);
    // rate() and increase() need two samples of a series in their window.
    await eventually(async () => Number(((await query('count_over_time(up{job="mistbridge"}[1m])')).data?.result[0] as { value: [number, string] } | undefined)?.value[1] ?? 0) >= 3, 'three scrapes', 20_000);
  });

  afterAll(async () => {
    server?.kill('SIGTERM');
    mistbridge?.child.kill('SIGTERM');
    await mistbridge?.exited;
    await hec?.stop();
  });

  it('every dashboard query returns data with its variables at All', async () => {
    const empty: string[] = [];
    for (const panel of dashboard.panels) {
      for (const target of panel.targets) {
        const result = await query(atAll(target.expr));
        expect({ panel: panel.title, status: result.status, error: result.error }).toEqual({ panel: panel.title, status: 'success', error: undefined });
        if (result.data!.result.length === 0) empty.push(`${panel.title}: ${target.expr}`);
      }
    }
    expect(empty).toEqual([]);
  });

  it('names the devices in the down table from mistbridge_device_info', async () => {
    const table = dashboard.panels.find((p) => p.title.startsWith('Devices down'))!;
    const rows = (await query(atAll(table.targets[0]!.expr))).data!.result as Array<{ metric: Record<string, string>; value: [number, string] }>;
    expect(rows.some((r) => r.metric.device_name && r.metric.site_name)).toBe(true);
    expect(rows[0]!.value[1]).toBe('0'); // down first
  });

  it('evaluates every alert rule without error', async () => {
    type Rule = { name: string; health: string; lastError?: string };
    let rules: Rule[] = [];
    await eventually(
      async () => {
        const body = (await (await fetch(`${api}/api/v1/rules`)).json()) as { data: { groups: Array<{ rules: Rule[] }> } };
        rules = body.data.groups.flatMap((g) => g.rules);
        return rules.length > 0 && rules.every((r) => r.health !== 'unknown');
      },
      'every rule evaluated',
      20_000,
    );
    expect(rules.filter((r) => r.health !== 'ok').map((r) => `${r.name}: ${r.lastError}`)).toEqual([]);
    expect(rules.length).toBe(12);
  });
});
