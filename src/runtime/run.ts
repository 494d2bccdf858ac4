import { getHeapStatistics } from 'node:v8';
import type { Bus, Consumer } from '../bus/bus';
import { EmbeddedBus } from '../bus/embedded/embedded-bus';
import { compactedTopics, topicNames } from '../bus/topics';
import type { Config } from '../config/config';
import { describeConfig } from '../config/load';
import { Router } from 'express';
import { dlqApi, embeddedDlq, kafkaDlq } from '../dlq/api';
import { DoctorWatch, PerMinute, summaryApi } from '../console/console';
import { tailApi } from '../tail/api';
import { TailHub } from '../tail/hub';
import { incidentsApi } from '../correlator/api';
import { startCorrelator, type CorrelatorHandle } from '../correlator/worker';
import { Readiness } from '../http/readiness';
import { startHttp, type HttpServers } from '../http/server';
import { JwtVerifier } from '../ingress/jwt';
import { SourcePolicy } from '../ingress/sources';
import { LogThrottle } from '../shared/log-throttle';
import { webhookHandler } from '../ingress/webhook';
import { secretBookOf, type SecretBook, SecretsFileWatcher } from '../ingress/secrets';
import { startNormalizer } from '../normalizer/worker';
import { GROUPS } from '../bus/topics';
import { systemClock, type Clock } from '../shared/clock';
import type { Logger } from '../shared/logger';
import { createMetrics, type Metrics } from '../shared/metrics';
import { useSchemaHistory } from '../shared/avro';
import { MemoryAccount } from '../shared/memory-account';
import { FIXED_MB } from '../config/memory';
import { startMetricsSink } from '../sinks/metrics/worker';
import { startMistApi, type MistApiHandle } from '../mistapi/worker';
import { startNotify, type NotifyHandle } from '../notify/worker';
import { startSplunkSink, type SplunkSinkHandle } from '../sinks/splunk-hec/worker';

export interface Runtime {
  config: Config;
  bus: Bus;
  metrics: Metrics;
  http: HttpServers;
  splunk: SplunkSinkHandle | null;
  correlator: CorrelatorHandle | null;
  mistApi: MistApiHandle | null;
  /** One per notify destination. */
  notify: NotifyHandle[];
  /** Graceful shutdown (CONTRACT section 1): stop accepting, drain, commit, within DRAIN_TIMEOUT_MS. */
  stop(): Promise<void>;
  /**
   * An in-process crash, for tests of the embedded bus: sockets cut, nothing drained, committed or
   * checkpointed any more, so that a new runtime on the same DATA_DIR starts as after `kill -9`.
   */
  abandon(): Promise<void>;
}

export interface RunOptions {
  clock?: Clock;
  /** prom-client's process metrics (default true). */
  processMetrics?: boolean;
}

/** The process's reservations: INGRESS_MAX_BACKLOG_BYTES of them, and the measured brake when a budget is known. */
export function memoryAccount(config: Config): MemoryAccount {
  // The measured brake watches what the heap and buffers may use: the budget less its fixed part.
  return new MemoryAccount(config.ingress.maxBacklogBytes, config.memoryBudget ? (config.memoryBudget.mb - FIXED_MB) * 1024 * 1024 : null);
}

export async function createBus(config: Config, logger: Logger, clock: Clock = systemClock, metrics?: Metrics, memory: MemoryAccount = memoryAccount(config)): Promise<Bus> {
  const topics = topicNames(config.topicPrefix);
  // kafkajs is loaded only by processes that use it: the embedded mode stays lean.
  if (config.kafka) return (await import('../bus/kafka/kafka-bus')).createKafkaBus(config, topics, logger, memory);
  return new EmbeddedBus({
    memory,
    dataDir: config.dataDir,
    topics,
    compacted: compactedTopics(topics),
    maxBacklogBytes: config.ingress.maxBacklogBytes,
    rawGroup: GROUPS.normalizer,
    maxLetterBytes: config.ingress.maxBodyBytes,
    logger,
    now: () => clock.now(),
    onQuarantine: () => metrics?.dlq?.inc({ stage: 'normalizer', reason: 'crash_loop' }),
    rawArchive: config.rawArchive,
  });
}

/** Starts the configured roles: consumers first, then the bus (replaying what a crash left), then HTTP. */
export async function run(config: Config, logger: Logger, options: RunOptions = {}): Promise<Runtime> {
  logger.info('starting mistbridge', describeConfig(config));
  if (config.schemaHistoryDir) useSchemaHistory(config.schemaHistoryDir);
  const clock = options.clock ?? systemClock;
  const topics = topicNames(config.topicPrefix);
  // The metrics exist before the bus, which counts what it quarantines at start; lag is read from the bus at scrape time.
  const started: { bus?: Bus } = {};
  const metrics = createMetrics(config.roles, { lag: async () => (started.bus ? started.bus.lag() : []) }, { processMetrics: options.processMetrics });
  const memory = memoryAccount(config);
  const bus = await createBus(config, logger, clock, metrics, memory);
  started.bus = bus;
  const readiness = new Readiness();
  const consumers: Consumer[] = [];
  // /api/tail is served where events are normalized (and incidents correlated).
  const tail = config.roles.includes('normalizer') || config.roles.includes('correlator') ? new TailHub() : undefined;
  const deps = { bus, topics, config, metrics, logger, clock, tail, memory };
  const has = (role: string): boolean => config.roles.includes(role as never);

  const child = (role: string) => ({ ...deps, logger: logger.child({ role }) });
  const none = Promise.resolve(null);
  if (has('splunk') && !config.splunk) logger.info('Splunk sink off: set SPLUNK_HEC_URL and SPLUNK_HEC_TOKEN to deliver events to Splunk HEC');
  // The roles start side by side: on Kafka each consumer's first group join takes the broker's
  // initial rebalance delay (3 s by default), which one after the other added up to 20 s.
  const [normalizer, splunk, metricsSink, correlator, notify, mistApi] = await Promise.all([
    has('normalizer') ? startNormalizer(child('normalizer')) : none,
    has('splunk') && config.splunk ? startSplunkSink(child('splunk')) : none,
    has('metrics') ? startMetricsSink(child('metrics')) : none,
    has('correlator') ? startCorrelator(child('correlator')) : none,
    has('notify') ? startNotify(child('notify')) : Promise.resolve([]),
    has('mistapi') ? startMistApi(child('mistapi')) : none,
  ]);
  for (const consumer of [normalizer, metricsSink, correlator, ...notify, mistApi, splunk]) if (consumer) consumers.push(consumer);
  if (splunk) {
    const sink = splunk.sink;
    readiness.add('splunk_sink', () => {
      const status = sink.status();
      return status.paused ? { ok: false, reason: status.reason ?? 'paused', paused: true, since: status.since } : { ok: true, paused: false };
    }, { informational: true });
  }
  // Informational, like a paused sink: the Mist API never makes the process unready (CONTRACT section 8).
  if (mistApi) readiness.add('mist_api', () => ({ ...mistApi.status() }), { informational: true });
  for (const consumer of consumers) readiness.add(consumer.group, () => (consumer.ready() ? { ok: true } : { ok: false, reason: 'not connected or not assigned' }));

  await bus.start();

  if (has('ingress')) {
    readiness.add('ingress', () => {
      const writable = bus.writable();
      return writable.ok ? { ok: true } : { ok: false, reason: writable.reason };
    });
    if (config.http.protectedMode) {
      logger.warn(
        `protected mode: no MIST_WEBHOOK_SECRET, MIST_WEBHOOK_TOKEN, MIST_OAUTH2_* or MIST_ALLOW_UNSIGNED=true, so the ingress listens on ${config.http.host} only; set one of them to accept webhooks from Mist`,
      );
    }
  }
  const oauth2 = has('ingress') && config.auth.oauth2 ? new JwtVerifier(config.auth.oauth2, { now: () => clock.now() }) : null;
  if (oauth2) {
    void oauth2.warm();
    readiness.add('oauth2_jwks', () => oauth2.status(), { informational: true });
  }
  const sources = new SourcePolicy(config.auth.allowedSources, config.http.trustedProxies, config.http.maxConnectionsPerSource);
  const ingressLogger = logger.child({ role: 'ingress' });
  const secrets = has('ingress') ? watchSecrets(config, ingressLogger, metrics, readiness) : null;
  const webhook = secrets
    ? webhookHandler({
        bus,
        rawTopic: topics.raw,
        auth: { token: config.auth.token, oauth2 },
        secrets: secrets.book,
        maxBodyBytes: config.ingress.maxBodyBytes,
        maxEvents: config.ingress.maxEvents,
        maxReadingBytes: config.ingress.maxReadingBytes,
        timeoutMs: config.ingress.timeoutMs,
        now: () => clock.now(),
        metrics: metrics.ingress!,
        logger: ingressLogger,
        sources,
      })
    : undefined;
  const refusals = new LogThrottle(ingressLogger);
  // The DLQ: the embedded file, or on Kafka the DLQ topic, read by the process that runs the correlator.
  const dlq = bus instanceof EmbeddedBus ? embeddedDlq(bus.dlq, (topic, messages) => bus.redrive(topic, messages)) : correlator && 'readToEnd' in bus ? kafkaDlq(bus as Parameters<typeof kafkaDlq>[0], topics.dlq) : null;
  const perMinute = metrics.ingress ? new PerMinute(metrics.ingress.webhooks, () => clock.now()) : null;
  const doctor = mistApi && config.mistApi ? new DoctorWatch(config, logger.child({ role: 'mistapi' }), () => clock.now()) : null;
  /** `/api/*` of this process: the console's summary, incidents and devices (correlator role), the live tail, the DLQ, the companion's doctor. */
  const adminApi = (): Router => {
    const api = Router();
    api.use(summaryApi({ readiness, roles: config.roles, topology: config.kafka ? 'Kafka' : 'embedded bus', webhooks: perMinute, lastWebhook: metrics.ingress?.lastWebhook ?? null, dlq, doctor: doctor !== null }));
    if (correlator) api.use(incidentsApi(correlator, () => clock.now()));
    if (tail) api.use(tailApi(tail, { incidents: correlator !== null, memory }));
    if (dlq) api.use(dlqApi(dlq, topics, () => clock.now()));
    if (doctor) api.use(doctor.router());
    return api;
  };
  const http = await startHttp({
    host: config.http.host,
    port: config.http.port,
    adminHost: config.http.adminHost,
    adminPort: config.http.adminPort,
    tls: config.http.tls,
    maxConnections: config.http.maxConnections,
    requestTimeoutMs: config.http.requestTimeoutMs,
    registry: metrics.registry,
    readiness,
    logger,
    webhook,
    admit: webhook
      ? (socket) => {
          const refused = sources.admit(socket);
          if (refused) {
            // A refused connection is a webhook that did not get in: counted with the failed authentications.
            if (refused.includes('MIST_SOURCE_ALLOW')) metrics.ingress!.webhooks.inc({ outcome: 'bad_signature' });
            refusals.log('warn', refused, 'connection refused on the webhook port', { reason: refused, remote: socket.remoteAddress });
          }
          return refused;
        }
      : undefined,
    api: adminApi(),
    apiToken: config.http.apiToken,
  });
  memory.arm();
  logger.info('ready', readyLine(config, http));
  if (!LOOPBACK.test(config.http.adminHost) && config.http.apiToken === null) {
    logger.warn(`the admin port listens on ${config.http.adminHost}:${http.adminPort} without API_TOKEN: /api/* (incidents, devices, dead letters) is open to anyone who can reach it; set API_TOKEN or ADMIN_HOST=127.0.0.1`);
  }

  let stopping: Promise<void> | null = null;
  return {
    config,
    bus,
    metrics,
    http,
    splunk,
    correlator,
    mistApi,
    notify,
    stop: () =>
      (stopping ??= (async () => {
        const deadline = Date.now() + config.drainTimeoutMs;
        const remaining = (): number => Math.max(0, deadline - Date.now());
        tail?.close();
        await http.close(Math.min(remaining(), 5000));
        // Stage by stage: what an upstream stage writes as it stops (the correlator publishes the
        // incident versions that waited for their interval) is taken by the stages after it before
        // they stop, so a clean stop leaves nothing to replay (bounded by DRAIN_TIMEOUT_MS).
        const upstream = consumers.filter((c) => c.group === GROUPS.normalizer || c.group === GROUPS.correlator);
        const downstream = consumers.filter((c) => !upstream.includes(c));
        await withTimeout(Promise.all(upstream.map((c) => c.stop())), remaining());
        const groups = new Set(downstream.map((c) => c.group));
        const drainUntil = Date.now() + Math.min(remaining(), 3000);
        // (On Kafka each look asks the broker: every 100 ms at most.) Notify commits once a group
        // window was sent: the windows go out now, not when NOTIFY_GROUP_S ends.
        while (Date.now() < drainUntil && (await bus.lag().catch(() => [])).some((l) => groups.has(l.group) && l.lag > 0)) {
          for (const destination of notify) void destination.flush().catch(() => undefined);
          await sleepMs(100);
        }
        await withTimeout(Promise.all(downstream.map((c) => c.stop())), remaining());
        await bus.close();
        memory.close();
        secrets?.watcher?.stop();
        perMinute?.close();
        doctor?.close();
        logger.info('mistbridge stopped');
      })()),
    abandon: () =>
      (stopping ??= (async () => {
        await http.close(0);
        if (!(bus instanceof EmbeddedBus)) throw new Error('only the embedded bus can be abandoned in-process');
        await bus.abandon();
        // Timers and sockets of the roles go; their handlers in flight are not waited for.
        for (const consumer of consumers) void consumer.stop().catch(() => undefined);
      })()),
  };
}

/**
 * The webhook secrets by path, and MIST_WEBHOOK_SECRETS_FILE re-read when it changes: a new
 * content that cannot be read or is invalid keeps the last good one, said in a log line, `/readyz`
 * (informational) and `mistbridge_secrets_reload_failures_total`.
 */
function watchSecrets(config: Config, logger: Logger, metrics: Metrics, readiness: Readiness): { book: SecretBook; watcher: SecretsFileWatcher | null } {
  const file = config.auth.secretsFile;
  const book = secretBookOf(config.auth);
  if (book.globals().length > 2)
    logger.warn(
      `${book.globals().length} global webhook secrets: every one is tried on each signed request to /webhooks/mist (an HMAC over the whole body each, also for requests that fail). Key them by org or site in MIST_WEBHOOK_SECRETS_FILE ("<org_id> <secret>", "<org_id>/<site_id> <secret>") and point each Mist webhook at /webhooks/mist/<org_id>[/<site_id>]: at most 2 HMACs per request; mistbridge doctor prints the conversion`,
    );
  if (!file) return { book, watcher: null };
  const watcher = new SecretsFileWatcher(
    file.path,
    file.text,
    (content) => {
      book.replace(content);
      logger.info('MIST_WEBHOOK_SECRETS_FILE re-read', { globals: content.globals.length, keys: content.keyed.size });
    },
    (reason) => {
      metrics.ingress?.secretsReloadFailures.inc();
      logger.error('MIST_WEBHOOK_SECRETS_FILE not re-read: the last good content stays in use', { reason });
    },
  ).start();
  readiness.add('secrets_file', () => (watcher.failure ? { ok: true, reason: `last reload failed (the previous secrets are in use): ${watcher.failure}` } : { ok: true }), { informational: true });
  return { book, watcher };
}

const sleepMs = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/i;

/** The start-up line a newcomer reads: where to point Mist, which checks guard it, where the rest is. No secrets. */
function readyLine(config: Config, http: HttpServers): Record<string, unknown> {
  const scheme = config.http.tls ? 'https' : 'http';
  const host = (h: string): string => (h === '0.0.0.0' || h === '::' ? '<this host>' : h.includes(':') ? `[${h}]` : h);
  const auth = [
    ...(config.auth.secrets.length > 0 ? [`hmac (${config.auth.secrets.length} secret${config.auth.secrets.length > 1 ? 's' : ''})`] : []),
    ...(config.auth.token ? ['bearer token'] : []),
    ...(config.auth.oauth2 ? ['oauth2 jwt'] : []),
    ...(config.auth.allowedSources ? ['source allow-list'] : []),
  ];
  return {
    port: http.port,
    adminPort: http.adminPort,
    roles: config.roles,
    ...(config.roles.includes('ingress') ? { webhook_url: `${scheme}://${host(config.http.host)}:${http.port}/webhooks/mist`, auth: auth.length > 0 ? auth : ['none (protected mode: loopback only)'] } : {}),
    admin_url: `http://${host(config.http.adminHost)}:${http.adminPort}`,
    splunk: config.splunk ? 'on' : 'off',
    memory_budget_mb: config.memoryBudget?.mb ?? null,
    ...(config.memoryBudget ? { memory_budget_from: config.memoryBudget.source } : {}),
    heap_limit_mb: Math.round(getHeapStatistics().heap_size_limit / 1024 / 1024),
    mist_api: config.mistApi && config.roles.includes('mistapi') ? config.mistApi.baseUrl : 'off',
    notify: config.roles.includes('notify') && config.notify.destinations.length > 0 ? config.notify.destinations.map((d) => d.name) : 'off',
  };
}

function withTimeout(promise: Promise<unknown>, ms: number): Promise<unknown> {
  let timer: NodeJS.Timeout | undefined;
  const expiry = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, ms);
  });
  return Promise.race([promise, expiry]).finally(() => clearTimeout(timer));
}
