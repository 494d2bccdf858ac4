import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { systemTool } from '../helpers/system-tool';

/**
 * The dashboard's form; what its queries return is proven against a real Prometheus in
 * test/integration/prometheus-live.test.ts, the rules by promtool below and there.
 */
const ROOT = join(__dirname, '..', '..');
const FILES = join(ROOT, 'helm', 'mistbridge', 'files');
type Dashboard = { panels: Array<{ title: string; type: string; targets: Array<{ expr: string }>; links?: Array<{ url: string }>; fieldConfig: { defaults: { mappings?: unknown[]; thresholds?: unknown } } }>; templating: { list: Array<{ name: string }> } };
const text = readFileSync(join(FILES, 'mistbridge.json'), 'utf8');
const dashboard = JSON.parse(text) as Dashboard;

describe('Grafana dashboard', () => {
  it('is the output of scripts/build-dashboard.js (edit the script, then run it)', () => {
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const { dashboardText } = require('../../scripts/build-dashboard.js') as { dashboardText: string };
    expect(text).toBe(dashboardText);
  });

  it('has datasource, job, namespace and site variables, used by every mistbridge query', () => {
    expect(dashboard.templating.list.map((v) => v.name)).toEqual(expect.arrayContaining(['datasource', 'job', 'namespace', 'site', 'splunk']));
    for (const panel of dashboard.panels) for (const t of panel.targets) expect({ panel: panel.title, scoped: /job=~"\$job", namespace=~"\$namespace"/.test(t.expr) }).toEqual({ panel: panel.title, scoped: true });
  });

  it('covers what operators look at, with mappings where a number means a state and links to Splunk', () => {
    const titles = dashboard.panels.map((p) => p.title.toLowerCase()).join(' | ');
    for (const topic of ['webhooks', 'topic', 'severity', 'delay', 'hec', 'paused', 'dead letters', 'lag', 'incidents', 'devices down', 'per site', 'memory', 'event-loop', 'restarts']) expect(titles).toContain(topic);
    const byTitle = (start: string) => dashboard.panels.find((p) => p.title.startsWith(start))!;
    expect(byTitle('HEC sink paused').fieldConfig.defaults.mappings).toBeDefined();
    expect(byTitle('HEC sink paused').fieldConfig.defaults.thresholds).toBeDefined();
    expect(byTitle('Devices down').fieldConfig.defaults.mappings).toBeDefined();
    expect(byTitle('Devices down').targets[0]!.expr).toMatch(/group_left\(device_name, site_name/);
    expect(dashboard.panels.flatMap((p) => p.links ?? []).every((l) => l.url.startsWith('${splunk}/') && l.url.includes('mistbridge_index'))).toBe(true);
  });
});

const promtool = systemTool('promtool', 'prometheus');
const amtool = systemTool('amtool', 'prometheus-alertmanager');
describe('alert rules and Alertmanager', () => {
  (promtool.path ? it : it.skip)('pass promtool check rules and their unit tests (promtool test rules)', () => {
    const check = spawnSync(promtool.path!, ['check', 'rules', join(FILES, 'mistbridge.rules.yml')], { encoding: 'utf8' });
    expect({ status: check.status, stderr: check.stderr }).toEqual({ status: 0, stderr: '' });
    const tests = spawnSync(promtool.path!, ['test', 'rules', 'mistbridge.rules.test.yml'], { cwd: join(ROOT, 'deploy', 'prometheus'), encoding: 'utf8' });
    expect({ status: tests.status, output: tests.status === 0 ? '' : tests.stdout + tests.stderr }).toEqual({ status: 0, output: '' });
  });

  it('every alert has a summary, a description and a runbook_url that points at a README section', () => {
    const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
    const anchors = new Set([...readme.matchAll(/^#+ (.+)$/gm)].map((m) => m[1]!.toLowerCase().replace(/[^\w\- ]/g, '').replace(/ /g, '-')));
    const rules = (parse(readFileSync(join(FILES, 'mistbridge.rules.yml'), 'utf8')) as { groups: Array<{ rules: Array<{ alert: string; annotations: Record<string, string> }> }> }).groups.flatMap((g) => g.rules);
    expect(rules.length).toBe(12);
    for (const rule of rules) {
      expect({ alert: rule.alert, has: Boolean(rule.annotations.summary && rule.annotations.description) }).toEqual({ alert: rule.alert, has: true });
      const anchor = /^README\.md#(.+)$/.exec(rule.annotations.runbook_url ?? '')?.[1];
      expect({ alert: rule.alert, anchor, inReadme: anchor !== undefined && anchors.has(anchor) }).toEqual({ alert: rule.alert, anchor: rule.alert.toLowerCase(), inReadme: true });
    }
  });

  (amtool.path ? it : it.skip)('the compose Alertmanager configurations pass amtool check-config', () => {
    const dir = join(ROOT, 'deploy', 'alertmanager');
    const result = spawnSync(amtool.path!, ['check-config', join(dir, 'alertmanager.yml'), join(dir, 'alertmanager-null.yml')], { encoding: 'utf8' });
    expect({ status: result.status, output: result.status === 0 ? '' : result.stdout + result.stderr }).toEqual({ status: 0, output: '' });
  });
});
