import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'yaml';
import { topicNames } from '../../src/bus/topics';
import { onTestMachine, runToEnd } from '../helpers/boot';
import { FakeHec } from '../helpers/fake-hec';
import { eventually } from '../helpers/fixtures';
import { KafkaBroker, kafkaBrokerAvailability } from '../helpers/kafka-broker';
import { startProcess, type MistbridgeProcess } from '../helpers/process';
import { ROLES, VARIABLES } from '../../src/config/variables';
import { heapMb } from '../../src/config/memory';

/**
 * Boots every mistbridge service of docker-compose.yml with its `environment` (interpolated from
 * .env.example as `docker compose` would) and `command`: the topics job exits 0, each role answers
 * the image's HEALTHCHECK (scripts/healthcheck.js) and /readyz on the port Prometheus scrapes and
 * the port compose publishes. Kafka is the test broker, Splunk HEC the stand-in; each container has
 * its own network namespace, these processes share one, so ports are remapped after they are checked.
 */
const ROOT = join(__dirname, '..', '..');
const unavailable = kafkaBrokerAvailability();
if (unavailable) console.warn(`skipping the compose boot test: ${unavailable}`);

type Service = { image?: string; command?: string[]; environment?: Record<string, string>; ports?: string[]; mem_limit?: string };
const dotenv = Object.fromEntries(
  readFileSync(join(ROOT, '.env.example'), 'utf8')
    .split('\n')
    .filter((l) => /^[A-Z_]+=/.test(l))
    .map((l) => [l.slice(0, l.indexOf('=')), l.slice(l.indexOf('=') + 1)]),
);
/** Compose interpolation: ${VAR}, ${VAR:-default}, ${VAR:?error}, on the parsed values (`A: ${X:-}` is the empty string, not null). */
const interpolateText = (text: string): string =>
  text.replace(/\$\{([A-Z_]+)(?::([-?])([^}]*))?\}/g, (_, name: string, op?: string, arg?: string) => {
    const value = dotenv[name];
    if (value) return value;
    if (op === '?') throw new Error(`compose: ${arg}`);
    return op === '-' ? arg! : '';
  });
const interpolate = (value: unknown): unknown =>
  typeof value === 'string' ? interpolateText(value)
  : Array.isArray(value) ? value.map(interpolate)
  : value !== null && typeof value === 'object' ? Object.fromEntries(Object.entries(value).map(([k, v]) => [k, interpolate(v)]))
  : value;
const compose = interpolate(parse(readFileSync(join(ROOT, 'docker-compose.yml'), 'utf8'), { merge: true })) as { services: Record<string, Service> };
const services = Object.entries(compose.services).filter(([, s]) => s.image === 'mistbridge:local');
const defaultOf = (name: string): string => VARIABLES.find((v) => v.name === name)!.default!;
const scrapeTargets = (parse(readFileSync(join(ROOT, 'deploy', 'prometheus', 'prometheus.yml'), 'utf8')) as { scrape_configs: Array<{ static_configs: Array<{ targets: string[] }> }> }).scrape_configs.flatMap((c) => c.static_configs.flatMap((t) => t.targets));

(unavailable ? describe.skip : describe)('docker-compose.yml: boot every mistbridge service', () => {
  jest.setTimeout(120_000);

  it('runs the topics job to exit 0, then every role healthy and ready on the ports compose and Prometheus use', async () => {
    const hec = await new FakeHec().start();
    const prefix = compose.services.topics!.environment!.KAFKA_TOPIC_PREFIX ?? defaultOf('KAFKA_TOPIC_PREFIX');
    const broker = await new KafkaBroker().start(1, Object.values(topicNames(prefix)).map((t) => `${t}:2`));
    const subs = { brokers: broker.bootstrap, hecUrl: hec.url };
    const running: MistbridgeProcess[] = [];
    try {
      const topics = await runToEnd(compose.services.topics!.command!, onTestMachine(compose.services.topics!.environment!, subs));
      expect({ code: topics.code, output: topics.code === 0 ? '' : topics.output }).toEqual({ code: 0, output: '' });

      const roles = services.filter(([name]) => name !== 'topics');
      expect(roles.length).toBe(ROLES.length);
      const started = await Promise.allSettled(
        roles.map(async ([name, service]) => {
          const env = onTestMachine(service.environment ?? {}, subs);
          const listens = { http: Number(env.PORT ?? defaultOf('PORT')), admin: Number(env.ADMIN_PORT ?? defaultOf('ADMIN_PORT')) };
          // What compose publishes and Prometheus scrapes must be ports this service listens on.
          for (const port of service.ports ?? []) expect({ name, port, listened: Object.values(listens).includes(Number(port.split(':').pop())) }).toMatchObject({ listened: true });
          for (const target of scrapeTargets.filter((t) => t.startsWith(`${name}:`))) expect({ name, target }).toEqual({ name, target: `${name}:${listens.admin}` });
          // The container's cgroup limit, as the entry point would read it (MEMORY_LIMIT_MB stands in for the cgroup file).
          const limitMb = /^(\d+)m$/.exec(service.mem_limit ?? '')?.[1];
          expect({ name, mem_limit: limitMb !== undefined }).toEqual({ name, mem_limit: true });
          const p = await startProcess({ ...env, MEMORY_LIMIT_MB: limitMb! }, service.command!, { PORT: '0', ADMIN_PORT: '0' }, { entrypoint: true });
          running.push(p);
          return { name, p, env };
        }),
      );
      // Every process that started is stopped in `finally`, even when another failed to start.
      const booted = started.map((s) => { if (s.status === 'rejected') throw s.reason; return s.value; });
      for (const { name, p, env } of booted) {
        // The image's HEALTHCHECK, with the container's env and the port it really got.
        const health = await runScript(join(ROOT, 'scripts', 'healthcheck.js'), { ...env, ADMIN_PORT: String(p.adminPort), PORT: String(p.port) });
        expect({ name, health }).toEqual({ name, health: 0 });
        await eventually(async () => (await fetch(`${p.adminUrl}/readyz`).catch(() => null))?.status === 200, `${name} ready`, 60_000);
        const ready = p.logs.find((l) => l.message === 'ready')!;
        expect({ name, heapCapped: Number(ready.heap_limit_mb) < heapMb(Number(ready.memory_budget_mb)) + 48 }).toEqual({ name, heapCapped: true });
      }
    } finally {
      await Promise.all(running.map(async (p) => { p.child.kill('SIGTERM'); await p.exited; }));
      await broker.stop();
      await hec.stop();
    }
  });
});

async function runScript(script: string, env: Record<string, string>): Promise<number | null> {
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, [script], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: 'ignore' });
  return new Promise((resolve) => child.once('exit', resolve));
}
