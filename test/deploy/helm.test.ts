import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import Ajv from 'ajv';
import { parse } from 'yaml';
import { VARIABLE_NAMES } from '../../src/config/variables';

const CHART = join(__dirname, '..', '..', 'helm', 'mistbridge');
const values = parse(readFileSync(join(CHART, 'values.yaml'), 'utf8')) as Record<string, unknown>;
const templates = readdirSync(join(CHART, 'templates')).map((name) => ({ name, text: readFileSync(join(CHART, 'templates', name), 'utf8') }));

function has(root: unknown, path: string[]): boolean {
  let current = root;
  for (const key of path) {
    if (current === null || typeof current !== 'object' || !(key in current)) return false;
    current = (current as Record<string, unknown>)[key];
  }
  return true;
}

describe('Helm chart', () => {
  it('values.yaml validates against values.schema.json', () => {
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as object;
    const validate = new Ajv({ strict: false, allErrors: true }).compile(schema);
    validate(values);
    expect(validate.errors ?? []).toEqual([]);
  });

  it('the schema refuses what it should (it can fail)', () => {
    const schema = JSON.parse(readFileSync(join(CHART, 'values.schema.json'), 'utf8')) as object;
    const validate = new Ajv({ strict: false }).compile(schema);
    expect(validate({ ...values, logLevel: 'loud' })).toBe(false);
    expect(validate({ ...values, kafka: { brokers: '' } })).toBe(false);
    expect(validate({ ...values, unknownKey: 1 })).toBe(false);
  });

  it('every .Values path a template uses exists in values.yaml', () => {
    const missing: string[] = [];
    for (const { name, text } of templates) {
      for (const match of text.matchAll(/\.Values\.([A-Za-z0-9_.]+)/g)) {
        const path = match[1]!.replace(/\.$/, '').split('.');
        if (!has(values, path)) missing.push(`${name}: .Values.${path.join('.')}`);
      }
    }
    expect(missing).toEqual([]);
  });

  it('role specs used through range variables exist for every role', () => {
    const roles = values.roles as Record<string, Record<string, unknown>>;
    for (const { text } of templates) {
      for (const match of text.matchAll(/\$spec\.([A-Za-z0-9_.]+)/g)) {
        for (const [role, spec] of Object.entries(roles)) expect({ role, path: match[1], present: has(spec, match[1]!.split('.')) }).toMatchObject({ present: true });
      }
    }
  });

  it('sets only environment variables the configuration accepts', () => {
    const names = templates.flatMap(({ text }) => [...text.matchAll(/^\s*- name: ([A-Z][A-Z0-9_]+)\s*$/gm)].map((m) => m[1]!));
    expect(names.length).toBeGreaterThan(15);
    expect(names.filter((n) => !VARIABLE_NAMES.has(n))).toEqual([]);
  });

  it('has the pieces a Kubernetes user expects', () => {
    const files = templates.map((t) => t.name).sort();
    expect(files).toEqual(
      expect.arrayContaining(['deployment.yaml', 'service.yaml', 'ingress.yaml', 'secret.yaml', 'configmap.yaml', 'pdb.yaml', 'hpa.yaml', 'servicemonitor.yaml', 'prometheusrule.yaml', 'dashboard-configmap.yaml', 'topics-job.yaml', 'NOTES.txt']),
    );
    const deployment = templates.find((t) => t.name === 'deployment.yaml')!.text;
    expect(deployment).toMatch(/livenessProbe:\s+httpGet: \{ path: \/healthz/);
    expect(deployment).toMatch(/readinessProbe:\s+httpGet: \{ path: \/readyz/);
    expect(values.securityContext).toMatchObject({ readOnlyRootFilesystem: true, allowPrivilegeEscalation: false });
    expect(values.podSecurityContext).toMatchObject({ runAsNonRoot: true });
  });
});
