import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { topicNames } from '../../src/bus/topics';
import { FakeHec } from '../helpers/fake-hec';
import { bootPod, onTestMachine, podEnv, probesPass, runToEnd, stop, type BootedPod, type Substitutes } from '../helpers/boot';
import { helmRendererAvailability, helmTemplate, ofKind } from '../helpers/helm';
import { KafkaBroker, kafkaBrokerAvailability } from '../helpers/kafka-broker';
import { systemTool } from '../helpers/system-tool';
import { VALUE_SETS, existingSecrets } from './helm-values';
import { heapMb } from '../../src/config/memory';

/**
 * Boots what the chart renders: every Deployment of each values set started with exactly its
 * container's args and env (see test/helpers/boot.ts for what a test machine changes), in
 * parallel, each required to answer its startup, liveness and readiness probes on the ports they
 * name; the topics Job run to exit 0. The test broker cannot create topics (no CreateTopics), so
 * it starts with the Job's topics, named from the Job's own KAFKA_TOPIC_PREFIX: the Job then
 * connects, lists them and finds nothing missing.
 */
const unavailable = helmRendererAvailability() ?? kafkaBrokerAvailability();
const openssl = systemTool('openssl', 'openssl');
if (unavailable) console.warn(`skipping the chart boot test: ${unavailable}`);

(unavailable || !openssl.path ? describe.skip : describe)('Helm chart: boot what it renders', () => {
  jest.setTimeout(180_000);
  let hec: FakeHec;
  let ca: string;
  beforeAll(async () => {
    hec = await new FakeHec().start();
    const dir = mkdtempSync(join(tmpdir(), 'mistbridge-ca-'));
    execFileSync(openssl.path!, ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=test-ca', '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'ca.pem')], { stdio: 'ignore' });
    ca = readFileSync(join(dir, 'ca.pem'), 'utf8');
  });
  afterAll(() => hec.stop());

  it.each(VALUE_SETS.map((s) => [s.label, s] as const))('%s', async (_label, values) => {
    const { manifests } = await helmTemplate(values);
    const [job] = ofKind(manifests, 'Job');
    const { args, env } = podEnv(job!, manifests, { brokers: '', hecUrl: '', existingSecrets: existingSecrets(ca) });
    const broker = await new KafkaBroker().start(1, Object.values(topicNames(env.KAFKA_TOPIC_PREFIX!)).map((t) => `${t}:2`));
    const subs: Substitutes = { brokers: broker.bootstrap, hecUrl: hec.url, existingSecrets: existingSecrets(ca) };
    const pods: BootedPod[] = [];
    try {
      const result = await runToEnd(args, onTestMachine(env, subs));
      expect({ job: job!.metadata.name, code: result.code, output: result.code === 0 ? '' : result.output }).toEqual({ job: job!.metadata.name, code: 0, output: '' });

      const deployments = ofKind(manifests, 'Deployment');
      const started = await Promise.allSettled(deployments.map((d) => bootPod(d, manifests, subs)));
      for (const s of started) if (s.status === 'fulfilled') pods.push(s.value);
      expect(started.filter((s) => s.status === 'rejected').map((s) => String((s as PromiseRejectedResult).reason))).toEqual([]);
      await Promise.all(pods.map((pod) => probesPass(pod, 60_000)));
      for (const pod of pods) {
        const ready = pod.process.logs.find((l) => l.message === 'ready')!;
        // The kubelet probes from outside the pod: the admin port must listen on every address.
        expect(ready.admin_url).toMatch(/^http:\/\/<this host>:/);
        // The container's memory limit reached Node as a heap cap (the entry point) and as the budget.
        const limit = Number(ready.memory_budget_mb);
        expect(limit).toBeGreaterThanOrEqual(256);
        expect(Number(ready.heap_limit_mb)).toBeGreaterThanOrEqual(heapMb(limit));
        expect(Number(ready.heap_limit_mb)).toBeLessThan(heapMb(limit) + 48);
      }
    } finally {
      await Promise.all(pods.map((pod) => stop(pod.process)));
      await broker.stop();
    }
  });
});
