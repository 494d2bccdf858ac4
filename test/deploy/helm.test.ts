import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VARIABLE_NAMES, type Role } from '../../src/config/variables';
import { loadConfig } from '../../src/config/load';
import { HelmError, helmRendererAvailability, helmTemplate, ofKind, schemaProblems, type Manifest, type Rendered } from '../helpers/helm';
import { podEnv } from '../helpers/boot';
import { VALUE_SETS, FIXTURES, existingSecrets } from './helm-values';

/**
 * The chart as Helm renders it (test/tools/helm-render: Go text/template + sprig + Helm's own
 * functions and number semantics), checked against the Kubernetes schemas and for what the
 * rendered objects do. helm-boot.test.ts starts what it renders.
 */
const unavailable = helmRendererAvailability();
if (unavailable) console.warn(`skipping the Helm chart tests: ${unavailable}`);

type Container = { name: string; env?: Array<{ name: string; value?: string }>; ports?: Array<{ name: string; containerPort: number }>; livenessProbe?: { httpGet: { port: string } }; readinessProbe?: { httpGet: { port: string } } };
const podSpec = (m: Manifest) => (m.spec as { template: { metadata: { labels: Record<string, string>; annotations?: Record<string, string> }; spec: { containers: Container[]; automountServiceAccountToken?: boolean } } }).template;
const envOf = (m: Manifest): Record<string, string> => Object.fromEntries((podSpec(m).spec.containers[0]!.env ?? []).filter((e) => e.value !== undefined).map((e) => [e.name, e.value!]));
const deployment = (r: Rendered, role: string): Manifest | undefined => ofKind(r.manifests, 'Deployment').find((d) => d.metadata.labels?.['app.kubernetes.io/component'] === role);
const SUBS = { brokers: '127.0.0.1:1', hecUrl: 'http://127.0.0.1:1', existingSecrets: existingSecrets('x') };

(unavailable ? describe.skip : describe)('Helm chart, rendered by Helm\'s engine', () => {
  const rendered = new Map<string, Rendered>();
  beforeAll(async () => {
    for (const set of VALUE_SETS) rendered.set(set.label, await helmTemplate(set));
  });

  it.each(VALUE_SETS.map((s) => s.label))('%s: every manifest validates against the Kubernetes OpenAPI schemas', (label) => {
    const { manifests } = rendered.get(label)!;
    expect(manifests.length).toBeGreaterThan(10);
    expect(schemaProblems(manifests)).toEqual([]);
  });

  it('the validator can fail: a number written as a string is refused', () => {
    const broken = structuredClone(ofKind(rendered.get(VALUE_SETS[0]!.label)!.manifests, 'Service')[0]!);
    (broken.spec as { ports: Array<{ port: unknown }> }).ports[0]!.port = '8081';
    expect(schemaProblems([broken])).toEqual([expect.objectContaining({ error: expect.stringMatching(/port must be integer/) })]);
  });

  it.each(VALUE_SETS.map((s) => s.label))('%s: every container env is a configuration mistbridge accepts', (label) => {
    const { manifests } = rendered.get(label)!;
    const workloads = [...ofKind(manifests, 'Deployment'), ...ofKind(manifests, 'Job')];
    expect(workloads.length).toBeGreaterThanOrEqual(4);
    for (const workload of workloads) {
      const { env, args } = podEnv(workload, manifests, SUBS);
      expect(Object.keys(env).filter((n) => !VARIABLE_NAMES.has(n))).toEqual([]);
      // Numbers are plain integers (Helm's float64 through `quote` would give 5.24288e+06).
      for (const [name, value] of Object.entries(env)) if (/^[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(value)) expect({ name, value }).toEqual({ name, value: expect.stringMatching(/^\d+$/) });
      // The config loader takes the pod's env as it is (files resolved to their mounted content).
      const roles = args[0] === 'run' ? (args[args.indexOf('--roles') + 1]!.split(',') as Role[]) : undefined;
      expect(() => loadConfig(env, { roles })).not.toThrow();
    }
  });

  it('mounts the keyed secrets file as a directory (never subPath, which never sees updates) on the ingress', () => {
    const r = rendered.get(VALUE_SETS[2]!.label)!;
    const ingress = deployment(r, 'ingress')!;
    const container = podSpec(ingress).spec.containers[0]! as Container & { volumeMounts: Array<{ name: string; mountPath: string; subPath?: string }> };
    const mount = container.volumeMounts.find((m) => m.name === 'webhook-secrets')!;
    expect(mount).toEqual({ name: 'webhook-secrets', mountPath: '/etc/mistbridge/webhook-secrets', readOnly: true });
    const { env } = podEnv(ingress, r.manifests, SUBS);
    expect(loadConfig(env, { roles: ['ingress'] }).auth.keyedSecrets.get('2818e386-8dec-2562-9ede-5b8a0fbbdc71')).toEqual(['org-secret']);
    expect(deployment(r, 'normalizer')!.spec).not.toHaveProperty('template.spec.volumes', expect.arrayContaining([expect.objectContaining({ name: 'webhook-secrets' })]));
  });

  it('turns Helm\'s float64 numbers into integers: the large numbers reach the pods exactly', () => {
    const r = rendered.get(VALUE_SETS[3]!.label)!;
    expect(envOf(deployment(r, 'ingress')!)).toMatchObject({ MAX_BODY_BYTES: '10485760', INGRESS_TIMEOUT_MS: '120000', DRAIN_TIMEOUT_MS: '120000', KAFKA_SESSION_TIMEOUT_MS: '45000' });
    expect(envOf(deployment(r, 'correlator')!)).toMatchObject({ SECURITY_QUIET_WINDOW_S: '2592000', INCIDENT_RETENTION_S: '31536000' });
    expect(envOf(ofKind(r.manifests, 'Job')[0]!)).toMatchObject({ KAFKA_RAW_RETENTION_MS: '2592000000', MAX_BODY_BYTES: '10485760' });
    const pod = podSpec(deployment(r, 'ingress')!) as unknown as { spec: { terminationGracePeriodSeconds: number } };
    expect(pod.spec.terminationGracePeriodSeconds).toBe(130);
  });

  it("the README's install command renders an Ingress for /webhooks/mist only, with room for MAX_BODY_BYTES", () => {
    const r = rendered.get(VALUE_SETS[1]!.label)!;
    const [ingress] = ofKind(r.manifests, 'Ingress');
    const rules = (ingress!.spec as { rules: Array<{ host: string; http: { paths: Array<{ path: string; pathType: string; backend: { service: { name: string; port: { name: string } } } }> } }> }).rules;
    // Prefix: /webhooks/mist and the tenant paths /webhooks/mist/<org_id>[/<site_id>] (element-wise, never /webhooks/mistx)
    expect(rules).toEqual([{ host: 'mist-hooks.example.com', http: { paths: [{ path: '/webhooks/mist', pathType: 'Prefix', backend: { service: { name: 'mistbridge-ingress', port: { name: 'http' } } } }] } }]);
    const bodySize = ingress!.metadata.annotations!['nginx.ingress.kubernetes.io/proxy-body-size']!;
    expect(Number(bodySize.replace(/k$/, '')) * 1024).toBeGreaterThanOrEqual(5242880);
    // The backend Service exists and its named port leads to the ingress container's webhook port.
    const service = ofKind(r.manifests, 'Service').find((s) => s.metadata.name === 'mistbridge-ingress')!;
    expect((service.spec as { ports: Array<{ targetPort: string }> }).ports[0]!.targetPort).toBe('http');
    expect(podSpec(deployment(r, 'ingress')!).spec.containers[0]!.ports).toContainEqual({ name: 'http', containerPort: 8080 });
    expect(envOf(deployment(r, 'ingress')!).TRUSTED_PROXIES).toBe('10.0.0.0/8');
    // The 0.1 form of a host ({ host, paths }) still renders, its paths ignored.
  });

  it('reads the 0.1 form of ingress.hosts, routing the webhook path only', async () => {
    const r = await helmTemplate({ set: ['image.repository=r/m', 'ingress.enabled=true', 'ingress.hosts[0].host=a.example.com', 'ingress.hosts[0].paths[0]=/'] });
    const paths = (ofKind(r.manifests, 'Ingress')[0]!.spec as { rules: Array<{ host: string; http: { paths: Array<{ path: string }> } }> }).rules;
    expect(paths.map((rule) => [rule.host, rule.http.paths.map((p) => p.path)])).toEqual([['a.example.com', ['/webhooks/mist']]]);
  });

  it('refuses to render without an image repository the user chose', async () => {
    await expect(helmTemplate({})).rejects.toThrow(/image\.repository is required/);
  });

  it('the schema refuses a Splunk URL without a token, unknown keys and wrong types; a token or an existing Secret is enough', async () => {
    const base = ['image.repository=r/m', 'splunk.url=https://splunk.example.com:8088'];
    await expect(helmTemplate({ set: base })).rejects.toThrow(HelmError);
    await expect(helmTemplate({ set: ['image.repository=r/m', 'unknownKey=1'] })).rejects.toThrow(/schema/);
    await expect(helmTemplate({ set: ['image.repository=r/m', 'mist.maxBodyBytes=big'] })).rejects.toThrow(/schema/);
    await expect(helmTemplate({ set: ['image.repository=r/m', 'kafka.sasl.mechanism=plain'] })).rejects.toThrow(/schema/);
    await expect(helmTemplate({ set: [...base, 'secrets.hecToken=t'] })).resolves.toBeDefined();
    const existing = await helmTemplate({ set: [...base, 'secrets.existingSecret=mine'] });
    expect(ofKind(existing.manifests, 'Secret')).toEqual([]);
  });

  it('rolls the pods when a secret changes: checksum/secret follows the Secret', async () => {
    const checksums = async (secret: string) =>
      ofKind((await helmTemplate({ set: ['image.repository=r/m', `secrets.webhookSecret=${secret}`] })).manifests, 'Deployment').map((d) => podSpec(d).metadata.annotations!['checksum/secret']);
    const [a, b, again] = [await checksums('one'), await checksums('two'), await checksums('one')];
    expect(a[0]).toMatch(/^[0-9a-f]{64}$/);
    expect(a).not.toEqual(b);
    expect(a).toEqual(again);
  });

  it('rotates webhook secrets without downtime: the previous one reaches the ingress', () => {
    const r = rendered.get(VALUE_SETS[2]!.label)!;
    const { env } = podEnv(deployment(r, 'ingress')!, r.manifests, SUBS);
    expect(env).toMatchObject({ MIST_WEBHOOK_SECRET: 'current-secret', MIST_WEBHOOK_SECRET_PREVIOUS: 'previous-secret', API_TOKEN: 'api-token' });
  });

  it('has no splunk Deployment, admin Service or PDB while Splunk is off', () => {
    const r = rendered.get(VALUE_SETS[0]!.label)!;
    expect(ofKind(r.manifests, 'Deployment').map((d) => d.metadata.name).sort()).toEqual(['mistbridge-correlator', 'mistbridge-ingress', 'mistbridge-metrics', 'mistbridge-normalizer']);
    expect(r.manifests.filter((m) => m.metadata.name.includes('splunk'))).toEqual([]);
    expect(r.notes).toMatch(/Splunk sink is off/);
  });

  it('names objects with the usual full name and selects by name, instance and component', async () => {
    const other = await helmTemplate({ name: 'edge', set: ['image.repository=r/m'] });
    for (const r of [rendered.get(VALUE_SETS[0]!.label)!, other]) {
      expect(r.manifests.filter((m) => m.metadata.name.includes('mistbridge-mistbridge'))).toEqual([]);
      for (const d of ofKind(r.manifests, 'Deployment')) {
        const selector = (d.spec as { selector: { matchLabels: Record<string, string> } }).selector.matchLabels;
        expect(Object.keys(selector).sort()).toEqual(['app.kubernetes.io/component', 'app.kubernetes.io/instance', 'app.kubernetes.io/name']);
        expect(podSpec(d).metadata.labels).toMatchObject(selector);
      }
    }
    expect(ofKind(other.manifests, 'Deployment')[0]!.metadata.name).toBe('edge-mistbridge-correlator');
  });

  it('admin port 8081 everywhere: containers, probes, admin Services, ServiceMonitor, NetworkPolicy', () => {
    const r = rendered.get(VALUE_SETS[2]!.label)!;
    for (const d of ofKind(r.manifests, 'Deployment')) {
      const container = podSpec(d).spec.containers[0]!;
      expect(container.ports).toContainEqual({ name: 'admin', containerPort: 8081 });
      expect(container.livenessProbe!.httpGet.port).toBe('admin');
      expect(container.readinessProbe!.httpGet.port).toBe('admin');
      expect(envOf(d).ADMIN_PORT).toBeUndefined(); // the default, as CONTRACT section 2 has it
      expect(podSpec(d).spec.automountServiceAccountToken).toBe(false);
    }
    for (const s of ofKind(r.manifests, 'Service').filter((s) => s.metadata.name.endsWith('-admin'))) expect((s.spec as { ports: unknown[] }).ports).toEqual([{ name: 'admin', port: 8081, targetPort: 'admin' }]);
    expect((ofKind(r.manifests, 'ServiceMonitor')[0]!.spec as { endpoints: Array<{ port: string }> }).endpoints[0]!.port).toBe('admin');
    expect(ofKind(r.manifests, 'ServiceMonitor')[0]!.metadata.labels).toMatchObject({ release: 'kube-prometheus-stack' });
    const policy = ofKind(r.manifests, 'NetworkPolicy')[0]!.spec as { ingress: Array<{ from?: unknown[]; ports: Array<{ port: number }> }> };
    expect(policy.ingress).toEqual([
      { ports: [{ port: 8080, protocol: 'TCP' }] },
      { from: [{ podSelector: {} }, { namespaceSelector: { matchLabels: { 'kubernetes.io/metadata.name': 'monitoring' } } }], ports: [{ port: 8081, protocol: 'TCP' }] },
    ]);
    expect(ofKind(r.manifests, 'ServiceAccount')[0]).toMatchObject({ automountServiceAccountToken: false });
  });

  it('ships the alert rules as a PrometheusRule whose runbook links carry the base URL', () => {
    const r = rendered.get(VALUE_SETS[2]!.label)!;
    const groups = (ofKind(r.manifests, 'PrometheusRule')[0]!.spec as { groups: Array<{ rules: Array<{ alert: string; annotations: { runbook_url: string } }> }> }).groups;
    const rules = groups.flatMap((g) => g.rules);
    expect(rules.length).toBe(12);
    for (const rule of rules) expect(rule.annotations.runbook_url).toBe(`https://git.example.com/netops/mistbridge/blob/main/README.md#${rule.alert.toLowerCase()}`);
  });

  it('gives the topics Job what it needs before the release exists: its own env, the CA, the SASL password from a hook Secret that comes first', () => {
    const r = rendered.get(VALUE_SETS[2]!.label)!;
    const [job] = ofKind(r.manifests, 'Job');
    const { env, args } = podEnv(job!, r.manifests, SUBS);
    expect(args).toEqual(['topics']);
    expect(env.MISTBRIDGE_CONFIG).toBeUndefined();
    const sasl = (podSpec(job!).spec.containers[0]!.env as Array<{ name: string; valueFrom?: { secretKeyRef: { name: string } } }>).find((e) => e.name === 'KAFKA_SASL_PASSWORD')!;
    const hookSecret = ofKind(r.manifests, 'Secret').find((s) => s.metadata.name === sasl.valueFrom!.secretKeyRef.name)!;
    expect(hookSecret.metadata.annotations).toMatchObject({ 'helm.sh/hook': 'pre-install,pre-upgrade' });
    expect(Number(hookSecret.metadata.annotations!['helm.sh/hook-weight'])).toBeLessThan(Number(job!.metadata.annotations!['helm.sh/hook-weight']));
    const jobSpec = podSpec(job!).spec as unknown as { imagePullSecrets: unknown; volumes: Array<{ name: string }> };
    expect(jobSpec.imagePullSecrets).toEqual([{ name: 'regcred' }]);
    expect(jobSpec.volumes.map((v) => v.name)).toContain('kafka-ca');
  });

  it('reads a values file with Helm\'s number semantics, like a user\'s --set', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mistbridge-helm-'));
    writeFileSync(join(dir, 'v.yaml'), 'image: { repository: r/m }\nmist: { maxBodyBytes: 1.2e7 }\n');
    const fromFile = await helmTemplate({ files: [join(dir, 'v.yaml')] });
    const fromSet = await helmTemplate({ files: [join(FIXTURES, 'large-numbers.yaml')], set: ['mist.maxBodyBytes=12000000'] });
    expect(envOf(deployment(fromFile, 'ingress')!).MAX_BODY_BYTES).toBe('12000000');
    expect(envOf(deployment(fromSet, 'ingress')!).MAX_BODY_BYTES).toBe('12000000');
  });
});
