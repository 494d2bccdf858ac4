import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { VARIABLES } from '../../src/config/variables';
import { eventually } from './fixtures';
import type { Manifest } from './helm';
import { CLI, startProcess, type MistbridgeProcess } from './process';

/**
 * Boots what a chart (or a compose file) describes: a container's args and env, as the kubelet
 * would hand them to mistbridge, with only what a test machine must change:
 * - the pod's volumes become temporary folders (ConfigMaps and Secrets written into them) and
 *   paths under their mount points are rewritten to those folders;
 * - secret and ConfigMap references are resolved from the rendered manifests or the given
 *   existing Secrets; a missing required one is an error, as it is for the kubelet;
 * - Kafka is the test broker and Splunk HEC the stand-in (onTestMachine);
 * - each pod has its own network namespace, these processes share one: the ports the container
 *   declares are checked against the ports mistbridge would listen on, then any free port is used.
 */
export interface Substitutes {
  brokers: string;
  hecUrl: string;
  /** Secrets that exist before the release (`secrets.existingSecret`, CA Secrets), by name. */
  existingSecrets?: Record<string, Record<string, string>>;
}

interface Container {
  name: string;
  args?: string[];
  env?: Array<{ name: string; value?: string; valueFrom?: { secretKeyRef?: KeyRef; configMapKeyRef?: KeyRef; resourceFieldRef?: { resource: string; divisor?: string } } }>;
  resources?: { limits?: Record<string, string>; requests?: Record<string, string> };
  ports?: Array<{ name?: string; containerPort: number }>;
  volumeMounts?: Array<{ name: string; mountPath: string }>;
  livenessProbe?: Probe;
  readinessProbe?: Probe;
  startupProbe?: Probe;
}
interface KeyRef {
  name: string;
  key: string;
  optional?: boolean;
}
interface Probe {
  httpGet?: { path: string; port: string | number };
}
interface PodSpec {
  containers: Container[];
  volumes?: Array<{ name: string; emptyDir?: object; configMap?: { name: string }; secret?: { secretName: string } }>;
}

const defaultOf = (name: string): string | undefined => VARIABLES.find((v) => v.name === name)?.default;

/** The Secret or ConfigMap data of `name`: rendered by the chart, or existing before it. */
function dataOf(manifests: Manifest[], kind: 'Secret' | 'ConfigMap', name: string, subs: Substitutes): Record<string, string> | null {
  const rendered = manifests.find((m) => m.kind === kind && m.metadata.name === name);
  if (rendered) {
    const base64 = Object.fromEntries(Object.entries((rendered.data as Record<string, string> | undefined) ?? {}).map(([k, v]) => [k, kind === 'Secret' ? Buffer.from(v, 'base64').toString('utf8') : v]));
    return { ...base64, ...(rendered.stringData ?? {}) };
  }
  return (kind === 'Secret' && subs.existingSecrets?.[name]) || null;
}

export interface PodEnv {
  args: string[];
  env: Record<string, string>;
  container: Container;
}

/** The environment the kubelet would give the pod's first container, on this machine. */
export function podEnv(workload: Manifest, manifests: Manifest[], subs: Substitutes): PodEnv {
  const pod = (workload.spec as { template: { spec: PodSpec } }).template.spec;
  const container = pod.containers[0]!;
  const root = mkdtempSync(join(tmpdir(), `mistbridge-pod-${workload.metadata.name}-`));
  const volumes = new Map<string, string>();
  for (const volume of pod.volumes ?? []) {
    const dir = join(root, volume.name);
    mkdirSync(dir);
    const source = volume.configMap ? dataOf(manifests, 'ConfigMap', volume.configMap.name, subs) : volume.secret ? dataOf(manifests, 'Secret', volume.secret.secretName, subs) : {};
    if (source === null) throw new Error(`${workload.metadata.name}: volume ${volume.name} names ${volume.configMap?.name ?? volume.secret?.secretName}, which does not exist`);
    for (const [key, value] of Object.entries(source)) writeFileSync(join(dir, key), value);
    volumes.set(volume.name, dir);
  }
  const mounts = (container.volumeMounts ?? []).map((m) => {
    const dir = volumes.get(m.name);
    if (!dir) throw new Error(`${workload.metadata.name}: mount of undeclared volume ${m.name}`);
    return { path: m.mountPath, dir };
  });
  const onHost = (value: string): string => {
    const mount = mounts.filter((m) => value === m.path || value.startsWith(`${m.path}/`)).sort((a, b) => b.path.length - a.path.length)[0];
    return mount ? mount.dir + value.slice(mount.path.length) : value;
  };
  const env: Record<string, string> = {};
  for (const variable of container.env ?? []) {
    const field = variable.valueFrom?.resourceFieldRef;
    if (field) {
      env[variable.name] = String(resourceValue(container, field.resource, field.divisor ?? '1'));
      continue;
    }
    const ref = variable.valueFrom?.secretKeyRef ?? variable.valueFrom?.configMapKeyRef;
    if (!ref) {
      env[variable.name] = onHost(variable.value ?? '');
      continue;
    }
    const data = dataOf(manifests, variable.valueFrom?.secretKeyRef ? 'Secret' : 'ConfigMap', ref.name, subs);
    const value = data?.[ref.key];
    if (value === undefined) {
      if (ref.optional) continue;
      throw new Error(`${workload.metadata.name}: ${variable.name} needs key ${ref.key} of ${ref.name}, which does not exist (CreateContainerConfigError)`);
    }
    env[variable.name] = value;
  }
  return { args: container.args ?? [], env, container };
}

/**
 * What must change on a test machine: Kafka is the test broker, which speaks plaintext (the CA
 * file and the SASL password were resolved by podEnv) and whose controller id 0 breaks the
 * idempotent producer; Splunk HEC is the stand-in.
 */
export function onTestMachine(env: Record<string, string>, subs: Substitutes): Record<string, string> {
  const out = { ...env };
  if (out.KAFKA_BROKERS) {
    out.KAFKA_BROKERS = subs.brokers;
    for (const name of Object.keys(out)) if (name.startsWith('KAFKA_SSL') || name.startsWith('KAFKA_SASL')) delete out[name];
    out.KAFKA_IDEMPOTENT = 'false';
  }
  if (out.SPLUNK_HEC_URL) out.SPLUNK_HEC_URL = subs.hecUrl;
  return out;
}

const QUANTITY: Record<string, number> = { '': 1, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, k: 1e3, M: 1e6, G: 1e9 };

/** A container resource through the downward API: the quantity divided by the divisor, rounded up (as the kubelet does). */
function resourceValue(container: Container, resource: string, divisor: string): number {
  const [kind, name] = resource.split('.') as ['limits' | 'requests', string];
  const quantity = container.resources?.[kind]?.[name];
  if (!quantity) throw new Error(`${container.name}: ${resource} is not set`);
  const bytes = (q: string): number => {
    const m = /^(\d+(?:\.\d+)?)([KMG]i?|k)?$/.exec(q);
    if (!m) throw new Error(`unreadable quantity ${q}`);
    return Number(m[1]) * QUANTITY[m[2] ?? '']!;
  };
  return Math.ceil(bytes(quantity) / bytes(divisor));
}

export interface BootedPod {
  process: MistbridgeProcess;
  /** The URL of a probe, on the port this process really listens on. */
  probeUrl(probe: 'livenessProbe' | 'readinessProbe' | 'startupProbe'): string | null;
}

/**
 * Starts a rendered Deployment's container and checks that the ports it declares are the ports
 * mistbridge listens on with that env (PORT, ADMIN_PORT or their defaults).
 */
export async function bootPod(workload: Manifest, manifests: Manifest[], subs: Substitutes): Promise<BootedPod> {
  const { args, env: podVariables, container } = podEnv(workload, manifests, subs);
  const env = onTestMachine(podVariables, subs);
  const declared = new Map((container.ports ?? []).map((p) => [p.name ?? String(p.containerPort), p.containerPort]));
  const listens = { http: Number(env.PORT ?? defaultOf('PORT')), admin: Number(env.ADMIN_PORT ?? defaultOf('ADMIN_PORT')) };
  for (const [name, port] of declared) {
    if (listens[name as keyof typeof listens] !== port) throw new Error(`${workload.metadata.name}: port ${name} is declared as ${port}, mistbridge listens on ${listens[name as keyof typeof listens]}`);
  }
  // Through the image's entry point, so that the heap cap it passes is what the pod gets.
  const process = await startProcess(env, args, { PORT: '0', ADMIN_PORT: '0' }, { entrypoint: true });
  const actual = new Map<number, number>([
    [listens.http, process.port],
    [listens.admin, process.adminPort],
  ]);
  return {
    process,
    probeUrl(kind) {
      const httpGet = container[kind]?.httpGet;
      if (!httpGet) return null;
      const containerPort = typeof httpGet.port === 'number' ? httpGet.port : declared.get(httpGet.port);
      if (containerPort === undefined) throw new Error(`${workload.metadata.name}: ${kind} names port ${httpGet.port}, which the container does not declare`);
      const port = actual.get(containerPort);
      if (port === undefined) throw new Error(`${workload.metadata.name}: ${kind} port ${containerPort} is not a port mistbridge listens on`);
      return `http://127.0.0.1:${port}${httpGet.path}`;
    },
  };
}

/** Requires every probe the container names to answer 200 (readiness may take a group join). */
export async function probesPass(pod: BootedPod, timeoutMs = 30_000): Promise<void> {
  for (const kind of ['startupProbe', 'livenessProbe', 'readinessProbe'] as const) {
    const url = pod.probeUrl(kind);
    if (!url) continue;
    await eventually(async () => (await fetch(url).catch(() => null))?.status === 200, `${kind} ${url}`, timeoutMs);
  }
}

/** Runs a Job's (or one-shot service's) container to its end: the exit code and what it printed. */
export function runToEnd(args: string[], env: Record<string, string>): Promise<{ code: number | null; output: string }> {
  const child = spawn(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  child.stdout.on('data', (c: Buffer) => (output += c.toString()));
  child.stderr.on('data', (c: Buffer) => (output += c.toString()));
  return new Promise((resolve) => child.once('exit', (code) => resolve({ code, output })));
}

export async function stop(process: MistbridgeProcess): Promise<void> {
  process.child.kill('SIGTERM');
  await process.exited;
}
