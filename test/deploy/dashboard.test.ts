import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { startPipeline } from '../helpers/pipeline';
import { systemTool } from '../helpers/system-tool';

const FILES = join(__dirname, '..', '..', 'helm', 'mistbridge', 'files');
const dashboard = JSON.parse(readFileSync(join(FILES, 'mistbridge.json'), 'utf8')) as { panels: Array<{ title: string; targets: Array<{ expr: string }> }> };
const rulesText = readFileSync(join(FILES, 'mistbridge.rules.yml'), 'utf8');
const rules = parse(rulesText) as { groups: Array<{ rules: Array<{ alert: string; expr: string }> }> };

/** Metric family names a PromQL expression refers to (histogram series folded to their family). */
function families(expr: string): string[] {
  return [...expr.matchAll(/\bmistbridge_[a-z_]+/g)].map((m) => m[0].replace(/_(bucket|sum|count)$/, ''));
}

describe('Grafana dashboard and Prometheus alerts use only metrics mistbridge exposes', () => {
  let exposed: Set<string>;
  beforeAll(async () => {
    const pipeline = await startPipeline({ SPLUNK_HEC_URL: 'http://127.0.0.1:9', SPLUNK_HEC_TOKEN: 't' });
    try {
      const text = await (await fetch(`${pipeline.adminUrl}/metrics`)).text();
      exposed = new Set([...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1]!));
    } finally {
      await pipeline.stop();
    }
  });

  it('every dashboard query names live metric families', () => {
    const used = dashboard.panels.flatMap((p) => p.targets.flatMap((t) => families(t.expr)));
    expect(used.length).toBeGreaterThan(10);
    expect([...new Set(used)].filter((name) => !exposed.has(name))).toEqual([]);
  });

  it('the dashboard covers what operators look at', () => {
    const titles = dashboard.panels.map((p) => p.title.toLowerCase()).join(' | ');
    for (const topic of ['webhooks', 'topic', 'severity', 'delay', 'hec', 'dead letters', 'lag', 'incidents', 'devices']) expect(titles).toContain(topic);
  });

  it('every alert rule names live metric families', () => {
    const used = rules.groups.flatMap((g) => g.rules.flatMap((r) => families(r.expr)));
    expect([...new Set(used)].filter((name) => !exposed.has(name))).toEqual([]);
  });

  const promtool = systemTool('promtool', 'prometheus');
  (promtool.path ? it : it.skip)('the alert rules pass promtool check rules', () => {
    const result = spawnSync(promtool.path!, ['check', 'rules', join(FILES, 'mistbridge.rules.yml')], { encoding: 'utf8' });
    expect({ status: result.status, stderr: result.stderr }).toEqual({ status: 0, stderr: '' });
  });
});
