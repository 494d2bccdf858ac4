import type { MemoryBudget } from './memory';
import type { Role } from './variables';
import type { PrivacyRules } from '../normalizer/privacy';
import type { RuleOverrides, Severity, TopicRoute } from './file-schema';

/** The validated, frozen configuration every module receives. Built once by `loadConfig`. */
export interface Config {
  roles: Role[];
  http: {
    port: number;
    /** Equal to `port` (non-zero): one port serves everything. */
    adminPort: number;
    host: string;
    adminHost: string;
    /** Bearer token of `/api/*`, or null (open). */
    apiToken: string | null;
    trustedProxies: string[] | null;
    maxConnectionsPerSource: number;
    protectedMode: boolean;
    tls: { certFile: string; keyFile: string } | null;
    maxConnections: number;
    requestTimeoutMs: number;
  };
  auth: {
    /** Global secrets: the variables' (current, previous) and the secrets file's unkeyed lines. */
    secrets: string[];
    /** MIST_WEBHOOK_SECRET and MIST_WEBHOOK_SECRET_PREVIOUS alone (the file's part is re-read). */
    envSecrets: string[];
    /** The secrets file's keyed lines: `<org_id>` or `<org_id>/<site_id>` → at most 2 secrets. */
    keyedSecrets: Map<string, string[]>;
    /** MIST_WEBHOOK_SECRETS_FILE as read at start (re-read when it changes). */
    secretsFile: { path: string; text: string } | null;
    token: string | null;
    oauth2: { jwksUrl: string; issuer: string; audience: string } | null;
    allowUnsigned: boolean;
    allowedSources: string[] | null;
  };
  ingress: { maxBodyBytes: number; maxEvents: number; timeoutMs: number; maxBacklogBytes: number; maxReadingBytes: number };
  /** MEMORY_LIMIT_MB or the cgroup's limit, and where it came from; null: no budget known. */
  memoryBudget: MemoryBudget | null;
  /** Embedded bus: normalized webhooks kept for `mistbridge redeliver` (0: none). */
  rawArchive: { maxAgeMs: number; maxBytes: number };
  drainTimeoutMs: number;
  kafka: KafkaConfig | null;
  topicPrefix: string;
  splunk: SplunkConfig | null;
  normalizer: {
    dedupeWindowMs: number;
    severityMap: Record<string, Severity>;
    severityOverrides: Record<string, Record<string, Severity>>;
    routes: Record<string, TopicRoute>;
    privacy: PrivacyRules;
  };
  correlation: { securityQuietWindowMs: number; retentionMs: number; updateMinMs: number; rules: RuleOverrides };
  metrics: { labelLimit: number };
  /** CONTRACT section 8: null without MIST_API_TOKEN (the mistapi role idles). */
  mistApi: MistApiConfig | null;
  /** CONTRACT section 9: no destinations = the notify role idles. */
  notify: NotifyConfig;
  dataDir: string;
  /** Writer schemas of a newer version (SCHEMA_HISTORY_DIR), beside `schemas/history/`. */
  schemaHistoryDir: string | null;
  logLevel: string;
}

export type NotifyKind = 'slack' | 'teams' | 'googlechat' | 'webhook';

export interface NotifyDestination {
  /** The `destination` label of mistbridge_notifications_total, and its consumer group's suffix. */
  name: string;
  kind: NotifyKind;
  /** Secret: logged by host only. */
  url: string;
  minSeverity: Severity;
  sites: string[] | null;
  alarmTypes: string[] | null;
  kinds: Array<'device' | 'marvis' | 'security'> | null;
  /** An event route (0.3): events matching this go to the destination (incidents do not). */
  events: EventFilter | null;
  /** An event route's cap: messages a second at most. */
  ratePerS: number;
}

/** An event route's filter: every field given must match; `match` looks at the top level, then `attributes`. */
export interface EventFilter {
  topic?: string;
  type?: string;
  site_id?: string;
  severity?: Severity;
  match?: Record<string, string>;
}

export interface NotifyConfig {
  destinations: NotifyDestination[];
  groupMs: number;
  /** Cap of every wait between retries of a message, Retry-After included. */
  retryMaxMs: number;
  links: { splunk: string | null; grafana: string | null };
}

export interface MistApiConfig {
  token: string;
  /** Base URL, e.g. https://api.mist.com. */
  baseUrl: string;
  /** Explicit orgs, or null: discovered from /api/v1/self. */
  orgIds: string[] | null;
  inventoryMs: number;
  reconcileMs: number;
  backfillMaxMs: number;
  maxRequestsPerHour: number;
}

export interface KafkaConfig {
  brokers: string[];
  clientId: string;
  ssl: { caFile: string | null; rejectUnauthorized: boolean } | null;
  sasl: { mechanism: 'plain' | 'scram-sha-256' | 'scram-sha-512'; username: string; password: string } | null;
  idempotent: boolean;
  partitions: number;
  replicationFactor: number;
  rawRetentionMs: number;
  sessionTimeoutMs: number;
  /** Produce coalescing: concurrent writes to a topic go out as one send (one record batch per partition). */
  produceCoalesce: boolean;
  /** KAFKA_OCSF: the normalizer also writes OCSF events to `<prefix>ocsf`. */
  ocsf: boolean;
  produceLingerMs: number;
}

export interface SplunkConfig {
  url: string;
  token: string;
  index: string | null;
  ack: boolean;
  /** SPLUNK_HEC_FORMAT: CIM-friendly events, OCSF events, or both. */
  format: 'cim' | 'ocsf' | 'both';
  tlsVerify: boolean;
  caFile: string | null;
  batchMaxEvents: number;
  batchMaxBytes: number;
  lingerMs: number;
  gzip: boolean;
  timeoutMs: number;
  ackPollMs: number;
  ackTimeoutMs: number;
  retryMaxMs: number;
  proxyRetryMs: number;
}
