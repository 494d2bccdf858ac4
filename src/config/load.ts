import { readFileSync } from 'node:fs';
import { isMap, isScalar, parseDocument } from 'yaml';
import { DEFAULT_PRIVATE_FIELDS, type PrivacyMode } from '../normalizer/privacy';
import { canonicalTopic } from '../domain/topic';
import type { Config, MistApiConfig, NotifyConfig, NotifyDestination } from './config';
import { fileSchema, type FileSettings, type Severity } from './file-schema';
import { VARIABLES, VARIABLE_NAMES, type Role } from './variables';
import { backlogBytes, memoryBudget } from './memory';
import { parseSecrets, type SecretsContent } from '../ingress/secrets';

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration: ${problems.join('; ')}`);
    this.name = 'ConfigError';
  }
}

const LOOPBACK = /^(127\.\d+\.\d+\.\d+|::1|localhost)$/i;

/**
 * Reads the environment (and the YAML file it names), checks everything, and either returns the
 * frozen Config or throws one ConfigError naming every bad variable. Secrets never appear in
 * messages: a problem names the variable and the rule, not the value.
 */
export function loadConfig(env: Record<string, string | undefined>, overrides: { roles?: Role[] } = {}): Config {
  const problems: string[] = [];
  const raw: Record<string, string> = {};
  let file: FileSettings = {};

  const configPath = env.MISTBRIDGE_CONFIG?.trim();
  if (configPath) {
    const read = readConfigFile(configPath);
    if ('problem' in read) problems.push(read.problem);
    else {
      Object.assign(raw, read.variables);
      const parsed = fileSchema.safeParse(read.structured);
      if (parsed.success) file = canonicalFile(parsed.data);
      else for (const issue of parsed.error.issues) problems.push(`MISTBRIDGE_CONFIG ${issue.path.join('.') || '(top level)'}: ${issue.message}`);
    }
  }
  for (const variable of VARIABLES) {
    const value = env[variable.name];
    if (value !== undefined && value !== '') raw[variable.name] = value;
  }

  const values: Record<string, unknown> = {};
  for (const variable of VARIABLES) {
    const input = raw[variable.name] ?? variable.default;
    if (input === undefined) continue;
    const result = variable.schema.safeParse(input);
    if (result.success) values[variable.name] = result.data;
    else {
      const shown = variable.secret ? '' : ` (got ${JSON.stringify(input)})`;
      problems.push(`${variable.name}: ${result.error.issues.map((i) => i.message).join(', ')}${shown}`);
    }
  }

  const get = <T>(name: string): T | undefined => values[name] as T | undefined;
  const roles = overrides.roles ?? get<Role[]>('MISTBRIDGE_ROLES') ?? [];

  if (get('SPLUNK_HEC_URL') !== undefined && get('SPLUNK_HEC_TOKEN') === undefined)
    problems.push('SPLUNK_HEC_TOKEN: required when SPLUNK_HEC_URL is set');
  const sasl = get<string>('KAFKA_SASL_MECHANISM');
  if (sasl && (get('KAFKA_SASL_USERNAME') === undefined || get('KAFKA_SASL_PASSWORD') === undefined))
    problems.push('KAFKA_SASL_USERNAME/KAFKA_SASL_PASSWORD: required when KAFKA_SASL_MECHANISM is set');
  if ((get('TLS_CERT_FILE') === undefined) !== (get('TLS_KEY_FILE') === undefined))
    problems.push('TLS_CERT_FILE/TLS_KEY_FILE: set both or neither');
  if (get('PRIVACY_MODE') === 'hash' && get('PRIVACY_HASH_KEY') === undefined)
    problems.push('PRIVACY_HASH_KEY: required when PRIVACY_MODE is hash');
  const adminPort = get<number>('ADMIN_PORT')!;
  // CONTRACT section 1: on the embedded bus the raw journal is drained only by this process's
  // normalizer; an ingress without it would answer 200 for webhooks nothing ever processes.
  if (get('KAFKA_BROKERS') === undefined && roles.includes('ingress') && !roles.includes('normalizer'))
    problems.push('MISTBRIDGE_ROLES: on the embedded bus (KAFKA_BROKERS unset) a process with the ingress role must also run the normalizer role; add normalizer, or set KAFKA_BROKERS to run the roles apart');

  // A bound below one body would answer 503 to every webhook that large, for ever.
  if (raw.INGRESS_MAX_READING_BYTES !== undefined && get<number>('INGRESS_MAX_READING_BYTES')! < get<number>('MAX_BODY_BYTES')!)
    problems.push(`INGRESS_MAX_READING_BYTES: must be at least MAX_BODY_BYTES (${get<number>('MAX_BODY_BYTES')}): a body that large could never be read`);

  const oauth2Values = ['MIST_OAUTH2_JWKS_URL', 'MIST_OAUTH2_ISSUER', 'MIST_OAUTH2_AUDIENCE'].map((name) => get<string>(name));
  if (oauth2Values.some((v) => v !== undefined) && oauth2Values.some((v) => v === undefined))
    problems.push('MIST_OAUTH2_JWKS_URL/MIST_OAUTH2_ISSUER/MIST_OAUTH2_AUDIENCE: set the three together or none');
  if (oauth2Values[0] !== undefined && get('MIST_WEBHOOK_TOKEN') !== undefined)
    problems.push('MIST_WEBHOOK_TOKEN/MIST_OAUTH2_JWKS_URL: a bearer token is either the static token or an OAuth2 JWT; set one of them');
  const secretsFile = readSecretsFile(get<string>('MIST_WEBHOOK_SECRETS_FILE'), problems);

  if (problems.length > 0) throw new ConfigError(problems);

  const envSecrets = [get<string>('MIST_WEBHOOK_SECRET'), get<string>('MIST_WEBHOOK_SECRET_PREVIOUS')].filter((s): s is string => s !== undefined);
  const secrets = [...envSecrets, ...(secretsFile?.content.globals ?? [])];
  const keyedSecrets = secretsFile?.content.keyed ?? new Map<string, string[]>();
  const token = get<string>('MIST_WEBHOOK_TOKEN') ?? null;
  const oauth2 = oauth2Values[0] !== undefined ? { jwksUrl: oauth2Values[0], issuer: oauth2Values[1]!, audience: oauth2Values[2]! } : null;
  const allowUnsigned = get<boolean>('MIST_ALLOW_UNSIGNED') ?? false;
  const hostSetting = get<string>('HOST');
  // CONTRACT section 2: an unauthenticated ingress never listens beyond loopback unless told to.
  const protectedMode = roles.includes('ingress') && secrets.length === 0 && keyedSecrets.size === 0 && token === null && oauth2 === null && !allowUnsigned;
  const host = protectedMode ? (hostSetting && LOOPBACK.test(hostSetting) ? hostSetting : '127.0.0.1') : (hostSetting ?? '0.0.0.0');

  const budget = memoryBudget({ ...env, MEMORY_LIMIT_MB: get<number>('MEMORY_LIMIT_MB')?.toString() });
  const brokers = get<string[]>('KAFKA_BROKERS');
  const splunkUrl = get<string>('SPLUNK_HEC_URL');
  const config: Config = {
    roles,
    http: {
      port: get<number>('PORT')!,
      adminPort,
      host,
      adminHost: get<string>('ADMIN_HOST') ?? host,
      apiToken: get<string>('API_TOKEN') ?? null,
      trustedProxies: get<string[]>('TRUSTED_PROXIES') ?? null,
      maxConnectionsPerSource: get<number>('HTTP_MAX_CONNECTIONS_PER_SOURCE')!,
      protectedMode,
      tls: get<string>('TLS_CERT_FILE') ? { certFile: get<string>('TLS_CERT_FILE')!, keyFile: get<string>('TLS_KEY_FILE')! } : null,
      maxConnections: get<number>('HTTP_MAX_CONNECTIONS')!,
      requestTimeoutMs: get<number>('HTTP_REQUEST_TIMEOUT_MS')!,
    },
    auth: { secrets, envSecrets, keyedSecrets, secretsFile: secretsFile && { path: secretsFile.path, text: secretsFile.text }, token, oauth2, allowUnsigned, allowedSources: get<string[]>('MIST_SOURCE_ALLOW') ?? null },
    ingress: {
      maxBodyBytes: get<number>('MAX_BODY_BYTES')!,
      maxEvents: get<number>('MAX_EVENTS_PER_WEBHOOK')!,
      timeoutMs: get<number>('INGRESS_TIMEOUT_MS')!,
      // Set, they win; unset, a memory budget bounds them (a flood sheds with 503 before the pod's limit).
      maxBacklogBytes: raw.INGRESS_MAX_BACKLOG_BYTES === undefined && budget ? backlogBytes(budget.mb) : get<number>('INGRESS_MAX_BACKLOG_BYTES')!,
      // A derived bound never falls below one body (a small budget would refuse every large webhook).
      maxReadingBytes: raw.INGRESS_MAX_READING_BYTES === undefined && budget ? Math.max(backlogBytes(budget.mb), get<number>('MAX_BODY_BYTES')!) : get<number>('INGRESS_MAX_READING_BYTES')!,
    },
    memoryBudget: budget,
    // Raw bodies hold what privacy hides: kept only without privacy rules unless asked for.
    rawArchive: {
      maxAgeMs: (get<number>('RAW_RETENTION_S') ?? (get<string>('PRIVACY_MODE') === 'off' ? 604_800 : 0)) * 1000,
      maxBytes: get<number>('RAW_RETENTION_BYTES') ?? (get<string>('PRIVACY_MODE') === 'off' ? 1024 ** 3 : 0),
    },
    drainTimeoutMs: get<number>('DRAIN_TIMEOUT_MS')!,
    kafka: brokers
      ? {
          brokers,
          clientId: get<string>('KAFKA_CLIENT_ID')!,
          ssl: get<boolean>('KAFKA_SSL')
            ? { caFile: get<string>('KAFKA_SSL_CA_FILE') ?? null, rejectUnauthorized: get<boolean>('KAFKA_SSL_REJECT_UNAUTHORIZED')! }
            : null,
          sasl: sasl
            ? {
                mechanism: sasl as 'plain' | 'scram-sha-256' | 'scram-sha-512',
                username: get<string>('KAFKA_SASL_USERNAME')!,
                password: get<string>('KAFKA_SASL_PASSWORD')!,
              }
            : null,
          idempotent: get<boolean>('KAFKA_IDEMPOTENT')!,
          partitions: get<number>('KAFKA_PARTITIONS')!,
          replicationFactor: get<number>('KAFKA_REPLICATION_FACTOR')!,
          rawRetentionMs: get<number>('KAFKA_RAW_RETENTION_MS')!,
          sessionTimeoutMs: get<number>('KAFKA_SESSION_TIMEOUT_MS')!,
          produceCoalesce: get<boolean>('KAFKA_PRODUCE_COALESCE')!,
          ocsf: get<boolean>('KAFKA_OCSF')!,
          produceLingerMs: get<number>('KAFKA_PRODUCE_LINGER_MS')!,
        }
      : null,
    topicPrefix: get<string>('KAFKA_TOPIC_PREFIX')!,
    splunk: splunkUrl
      ? {
          url: splunkUrl.replace(/\/+$/, ''),
          token: get<string>('SPLUNK_HEC_TOKEN')!,
          index: get<string>('SPLUNK_HEC_INDEX') ?? null,
          ack: get<boolean>('SPLUNK_HEC_ACK')!,
          format: get<'cim' | 'ocsf' | 'both'>('SPLUNK_HEC_FORMAT')!,
          tlsVerify: get<boolean>('SPLUNK_HEC_TLS_VERIFY')!,
          caFile: get<string>('SPLUNK_HEC_CA_FILE') ?? null,
          batchMaxEvents: get<number>('SPLUNK_HEC_BATCH_MAX_EVENTS')!,
          batchMaxBytes: get<number>('SPLUNK_HEC_BATCH_MAX_BYTES')!,
          lingerMs: get<number>('SPLUNK_HEC_LINGER_MS')!,
          gzip: get<boolean>('SPLUNK_HEC_GZIP')!,
          timeoutMs: get<number>('SPLUNK_HEC_TIMEOUT_MS')!,
          ackPollMs: get<number>('SPLUNK_HEC_ACK_POLL_MS')!,
          ackTimeoutMs: get<number>('SPLUNK_HEC_ACK_TIMEOUT_MS')!,
          retryMaxMs: get<number>('SPLUNK_HEC_RETRY_MAX_MS')!,
          proxyRetryMs: get<number>('SPLUNK_HEC_PROXY_RETRY_S')! * 1000,
        }
      : null,
    normalizer: {
      dedupeWindowMs: get<number>('DEDUPE_WINDOW_S')! * 1000,
      severityMap: lowerKeys(file.severity?.map ?? {}),
      severityOverrides: file.severity?.overrides ?? {},
      routes: file.topics ?? {},
      privacy: {
        mode: get<PrivacyMode>('PRIVACY_MODE')!,
        key: get<string>('PRIVACY_HASH_KEY') ?? null,
        fields: file.privacy?.fields ?? DEFAULT_PRIVATE_FIELDS,
      },
    },
    correlation: {
      securityQuietWindowMs: get<number>('SECURITY_QUIET_WINDOW_S')! * 1000,
      retentionMs: get<number>('INCIDENT_RETENTION_S')! * 1000,
      updateMinMs: get<number>('INCIDENT_UPDATE_MIN_S')! * 1000,
      rules: file.correlation ?? {},
    },
    mistApi: mistApiConfig(get),
    notify: notifyConfig(get, file),
    metrics: { labelLimit: get<number>('METRICS_LABEL_LIMIT')! },
    dataDir: get<string>('DATA_DIR')!,
    schemaHistoryDir: get<string>('SCHEMA_HISTORY_DIR') ?? null,
    logLevel: get<string>('LOG_LEVEL')!,
  };
  return deepFreeze(config);
}

/** CONTRACT section 9: the destinations of the variables, then the YAML file's routes. */
function notifyConfig(get: <T>(name: string) => T | undefined, file: FileSettings): NotifyConfig {
  const minSeverity = get<Severity>('NOTIFY_MIN_SEVERITY')!;
  const fromEnv = (['slack', 'teams', 'googlechat', 'webhook'] as const).flatMap((kind): NotifyDestination[] => {
    const url = get<string>(kind === 'webhook' ? 'NOTIFY_WEBHOOK_URL' : `NOTIFY_${kind.toUpperCase()}_WEBHOOK_URL`);
    return url ? [{ name: kind, kind, url, minSeverity, sites: null, alarmTypes: null, kinds: null, events: null, ratePerS: 1 }] : [];
  });
  const fromFile = (file.notify?.routes ?? []).map(
    (route, i): NotifyDestination => ({
      name: route.name ?? `route-${i + 1}`,
      kind: route.kind,
      url: route.destination,
      minSeverity: route.min_severity ?? minSeverity,
      sites: route.sites ?? null,
      alarmTypes: route.alarm_types ?? null,
      kinds: route.kinds ?? null,
      events: route.events ?? null,
      ratePerS: route.rate_per_s ?? 1,
    }),
  );
  return {
    destinations: [...fromEnv, ...fromFile],
    groupMs: get<number>('NOTIFY_GROUP_S')! * 1000,
    retryMaxMs: get<number>('NOTIFY_RETRY_MAX_MS')!,
    links: { splunk: get<string>('NOTIFY_LINK_SPLUNK') ?? null, grafana: get<string>('NOTIFY_LINK_GRAFANA') ?? null },
  };
}

/** CONTRACT section 8: the Mist API companion, on with a token. */
function mistApiConfig(get: <T>(name: string) => T | undefined): MistApiConfig | null {
  const token = get<string>('MIST_API_TOKEN');
  if (!token) return null;
  const host = get<string>('MIST_API_HOST')!.trim().replace(/\/+$/, '');
  return {
    token,
    baseUrl: /^https?:\/\//.test(host) ? host : `https://${host}`,
    orgIds: get<string[]>('MIST_ORG_ID') ?? null,
    inventoryMs: get<number>('MIST_API_INVENTORY_S')! * 1000,
    reconcileMs: get<number>('MIST_API_RECONCILE_S')! * 1000,
    backfillMaxMs: get<number>('MIST_API_BACKFILL_MAX_S')! * 1000,
    maxRequestsPerHour: get<number>('MIST_API_MAX_REQUESTS_PER_HOUR')!,
  };
}

function lowerKeys<T>(record: Record<string, T>): Record<string, T> {
  return Object.fromEntries(Object.entries(record).map(([k, v]) => [k.toLowerCase(), v]));
}

/** Topic keys of the file in their canonical spelling, so `location_asset` and `location-asset` configure one topic. */
function canonicalFile(file: FileSettings): FileSettings {
  const byTopic = <T>(record: Record<string, T> | undefined): Record<string, T> | undefined =>
    record && Object.fromEntries(Object.entries(record).map(([topic, value]) => [topic === '*' ? topic : canonicalTopic(topic), value]));
  return {
    ...file,
    ...(file.topics ? { topics: byTopic(file.topics) } : {}),
    ...(file.severity ? { severity: { ...file.severity, ...(file.severity.overrides ? { overrides: byTopic(file.severity.overrides) } : {}) } } : {}),
    ...(file.privacy ? { privacy: { fields: byTopic(file.privacy.fields)! } } : {}),
  };
}

/**
 * The YAML file: variables (top-level keys named like one) as the exact text written — a secret
 * `0123` stays `0123`, never the number 123 — and the structured sections. A syntax error names
 * the line and column only: the offending line may be the secret.
 */
function readConfigFile(path: string): { variables: Record<string, string>; structured: Record<string, unknown> } | { problem: string } {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    return { problem: `MISTBRIDGE_CONFIG: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}` };
  }
  const doc = parseDocument(text);
  if (doc.errors.length > 0) {
    const where = doc.errors[0]!.linePos?.[0];
    return { problem: `MISTBRIDGE_CONFIG: ${path} is not valid YAML${where ? ` (line ${where.line}, column ${where.col})` : ''}` };
  }
  if (doc.contents === null) return { variables: {}, structured: {} };
  if (!isMap(doc.contents)) return { problem: `MISTBRIDGE_CONFIG: ${path}: the top level must be a mapping` };
  const variables: Record<string, string> = {};
  const structured: Record<string, unknown> = {};
  for (const pair of doc.contents.items) {
    const key = isScalar(pair.key) ? String(pair.key.value) : String(pair.key);
    if (VARIABLE_NAMES.has(key)) {
      if (!isScalar(pair.value)) {
        if (pair.value !== null) return { problem: `MISTBRIDGE_CONFIG: ${path}: ${key} must be a single value` };
        continue;
      }
      const value = pair.value.source ?? (pair.value.value === null ? '' : String(pair.value.value));
      if (value !== '' && pair.value.value !== null) variables[key] = value;
    } else structured[key] = (pair.value as { toJSON?: () => unknown } | null)?.toJSON?.() ?? null;
  }
  return { variables, structured };
}

function deepFreeze<T>(value: T): T {
  if (value && typeof value === 'object') {
    for (const inner of Object.values(value)) deepFreeze(inner);
    Object.freeze(value);
  }
  return value;
}

/** What start-up logs about the configuration: everything but secrets. */
export function describeConfig(config: Config): Record<string, unknown> {
  const { apiToken, ...http } = config.http;
  return {
    roles: config.roles,
    http: { ...http, apiToken: apiToken !== null },
    auth: {
      signature: config.auth.secrets.length > 0,
      token: config.auth.token !== null,
      oauth2: config.auth.oauth2 ? { jwks: config.auth.oauth2.jwksUrl, issuer: config.auth.oauth2.issuer } : false,
      allowUnsigned: config.auth.allowUnsigned,
      allowedSources: config.auth.allowedSources,
    },
    tls: config.http.tls !== null,
    privacy: config.normalizer.privacy.mode,
    bus: config.kafka ? { kind: 'kafka', brokers: config.kafka.brokers, prefix: config.topicPrefix } : { kind: 'embedded', dataDir: config.dataDir },
    splunk: config.splunk ? { url: redactUrl(config.splunk.url), index: config.splunk.index, ack: config.splunk.ack } : 'off',
    mistApi: config.mistApi ? { host: config.mistApi.baseUrl, orgs: config.mistApi.orgIds ?? 'discovered' } : 'off',
    notify: config.notify.destinations.map((d) => `${d.name} (${d.kind}, ${new URL(d.url).host})`),
  };
}

/** MIST_WEBHOOK_SECRETS_FILE: global and keyed secrets (src/ingress/secrets.ts). */
function readSecretsFile(path: string | undefined, problems: string[]): { path: string; text: string; content: SecretsContent } | null {
  if (path === undefined) return null;
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch (err) {
    problems.push(`MIST_WEBHOOK_SECRETS_FILE: cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`);
    return null;
  }
  const parsed = parseSecrets(text, path);
  if (!parsed.ok) {
    problems.push(`MIST_WEBHOOK_SECRETS_FILE: ${parsed.error}`);
    return null;
  }
  return { path, text, content: parsed.content };
}

/** A URL as logs may show it: user and password (`https://user:pass@host`) replaced. */
export function redactUrl(url: string): string {
  try {
    const parsed = new URL(url);
    if (!parsed.username && !parsed.password) return url;
    parsed.username = 'redacted';
    parsed.password = '';
    return parsed.href.replace(/\/$/, url.endsWith('/') ? '/' : '');
  } catch {
    return '[unparseable URL]';
  }
}
