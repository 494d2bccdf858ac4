import { isIP } from 'node:net';
import { z } from 'zod';
import { SEVERITIES } from './file-schema';

/**
 * Every environment variable mistbridge reads (CONTRACT section 2 plus the documented extras).
 * The same names are accepted as top-level keys of the YAML file `MISTBRIDGE_CONFIG`; the
 * environment wins over the file. Nothing else in the code reads `process.env`.
 */
export interface Variable {
  name: string;
  schema: z.ZodType;
  default?: string;
  secret?: boolean;
  doc: string;
}

const bool = z
  .string()
  .trim()
  .toLowerCase()
  .refine((v) => ['true', 'false', '1', '0', 'yes', 'no'].includes(v), 'must be true or false')
  .transform((v) => v === 'true' || v === '1' || v === 'yes');
/**
 * Whole numbers, also in the forms deployment tools write them (Helm renders 5242880 as
 * `5.24288e+06`; others write `5242880.0`): CONTRACT section 2. Anything else is refused.
 */
const int = (min: number, max: number) =>
  z
    .string()
    .trim()
    .regex(/^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/, 'must be a whole number')
    .transform(Number)
    .pipe(z.number().int('must be a whole number').min(min, `must be >= ${min}`).max(max, `must be <= ${max}`));
const port = int(0, 65535); // 0 = any free port (tests, benchmarks)
const text = z.string().trim().min(1, 'must not be empty');
const url = text.refine((v) => /^https?:\/\/[^\s/]+/.test(v) && URL.canParse(v), 'must be an http(s) URL');
const list = text.transform((v) => v.split(',').map((s) => s.trim()).filter(Boolean));
export const ROLES = ['ingress', 'normalizer', 'splunk', 'metrics', 'correlator', 'mistapi', 'notify'] as const;
export type Role = (typeof ROLES)[number];
const roles = list.refine((v) => v.length > 0 && v.every((r) => (ROLES as readonly string[]).includes(r)), {
  message: `must be a comma-separated subset of ${ROLES.join(',')}`,
});
/** An IPv4/IPv6 address, optionally with a /prefix. */
function validSource(value: string): boolean {
  const [address, prefix, extra] = value.split('/');
  if (extra !== undefined || !address || isIP(address) === 0) return false;
  if (prefix === undefined) return true;
  const bits = Number(prefix);
  return /^\d+$/.test(prefix) && bits <= (isIP(address) === 4 ? 32 : 128);
}
const level = z.enum(['error', 'warn', 'info', 'http', 'verbose', 'debug', 'silly']);

export const VARIABLES: readonly Variable[] = [
  { name: 'MISTBRIDGE_ROLES', schema: roles, default: ROLES.join(','), doc: 'roles this process runs (same as `run --roles`)' },
  { name: 'PORT', schema: port, default: '8080', doc: 'HTTP port: `POST /webhooks/mist` and `/healthz` only (the port that faces Mist)' },
  { name: 'ADMIN_PORT', schema: port, default: '8081', doc: '`/metrics`, `/readyz`, `/api/*` (and `/healthz`); equal to `PORT` (non-zero) = one port for everything; `0` = any free port' },
  { name: 'HOST', schema: text, doc: 'listen address (default 0.0.0.0, loopback in protected mode)' },
  { name: 'ADMIN_HOST', schema: text, doc: 'listen address of the admin port (default: the address `PORT` listens on)' },
  { name: 'API_TOKEN', schema: text, secret: true, doc: 'when set, `/api/*` requires `Authorization: Bearer <token>`' },
  { name: 'TRUSTED_PROXIES', schema: list.refine((v) => v.every(validSource), 'must be IP addresses or CIDR blocks, comma-separated'), doc: 'reverse proxies (Ingress, TLS front end): behind them the client address is the right-most untrusted `X-Forwarded-For` entry' },
  { name: 'HTTP_MAX_CONNECTIONS_PER_SOURCE', schema: int(1, 1_000_000), default: '64', doc: 'open connections per client address on the webhook port (trusted proxies exempt)' },
  { name: 'INGRESS_MAX_READING_BYTES', schema: int(1024, 2 ** 40), default: '67108864', doc: 'bytes of webhook bodies being read (before their signature can be checked) at most, across connections; beyond it 503' },
  { name: 'MIST_WEBHOOK_SECRET', schema: text, secret: true, doc: 'HMAC secret configured on the Mist webhook' },
  { name: 'MIST_WEBHOOK_SECRET_PREVIOUS', schema: text, secret: true, doc: 'previous secret, still accepted while rotating' },
  { name: 'MIST_WEBHOOK_TOKEN', schema: text, secret: true, doc: 'token Mist sends as custom header `Authorization: Bearer <token>` (not together with `MIST_OAUTH2_*`)' },
  { name: 'MIST_WEBHOOK_SECRETS_FILE', schema: text, doc: 'a file of more accepted HMAC secrets, one per line (org- and site-level webhooks with different secrets)' },
  { name: 'MIST_OAUTH2_JWKS_URL', schema: url, doc: 'Mist `oauth2` webhooks: the JWKS of your identity provider, whose keys sign the bearer JWT' },
  { name: 'MIST_OAUTH2_ISSUER', schema: text, doc: 'Mist `oauth2` webhooks: the `iss` the JWT must carry' },
  { name: 'MIST_OAUTH2_AUDIENCE', schema: text, doc: 'Mist `oauth2` webhooks: an `aud` the JWT must carry' },
  { name: 'MIST_ALLOW_UNSIGNED', schema: bool, default: 'false', doc: 'accept unauthenticated webhooks on a non-loopback address' },
  { name: 'MIST_SOURCE_ALLOW', schema: list.refine((v) => v.every(validSource), 'must be IP addresses or CIDR blocks, comma-separated'), doc: 'when set, only these source addresses may post webhooks (e.g. Mist\'s published webhook IPs)' },
  { name: 'TLS_CERT_FILE', schema: text, doc: 'PEM certificate: serve PORT over HTTPS (with TLS_KEY_FILE)' },
  { name: 'TLS_KEY_FILE', schema: text, doc: 'PEM private key for TLS_CERT_FILE' },
  { name: 'HTTP_MAX_CONNECTIONS', schema: int(1, 1_000_000), default: '1024', doc: 'open connections per port at most; more are refused' },
  { name: 'HTTP_REQUEST_TIMEOUT_MS', schema: int(100, 600000), default: '30000', doc: 'a request must arrive whole within this (headers within the lesser of this and 10 s)' },
  { name: 'MAX_BODY_BYTES', schema: int(1024, 1024 ** 3), default: '5242880', doc: 'larger webhook bodies get 413' },
  { name: 'INGRESS_TIMEOUT_MS', schema: int(1, 600000), default: '5000', doc: 'a webhook not durably written within this answers 503, and /readyz stays 503 until that write is answered' },
  { name: 'MAX_EVENTS_PER_WEBHOOK', schema: int(1, 10_000_000), default: '50000', doc: 'more events in one body get 413 (Mist never redelivers: keep it above any real aggregated body)' },
  { name: 'INGRESS_MAX_BACKLOG_BYTES', schema: int(1024, 2 ** 40), default: '67108864', doc: 'embedded bus: bytes held in memory (webhooks not yet normalized, events not yet delivered); above it the ingress answers 503' },
  { name: 'DRAIN_TIMEOUT_MS', schema: int(0, 600000), default: '10000', doc: 'graceful shutdown bound' },
  { name: 'KAFKA_BROKERS', schema: list, doc: 'comma-separated bootstrap servers; unset = embedded bus' },
  { name: 'KAFKA_TOPIC_PREFIX', schema: z.string().trim().regex(/^[A-Za-z0-9._-]*$/, 'may only hold letters, digits, . _ -'), default: 'mist.', doc: 'prefix of every topic name' },
  { name: 'KAFKA_CLIENT_ID', schema: text, default: 'mistbridge', doc: 'Kafka client id' },
  { name: 'KAFKA_SSL', schema: bool, default: 'false', doc: 'TLS to the brokers' },
  { name: 'KAFKA_SSL_CA_FILE', schema: text, doc: 'CA bundle (PEM) for the brokers' },
  { name: 'KAFKA_SSL_REJECT_UNAUTHORIZED', schema: bool, default: 'true', doc: 'verify the brokers\' certificates' },
  { name: 'KAFKA_SASL_MECHANISM', schema: z.enum(['plain', 'scram-sha-256', 'scram-sha-512']), doc: 'SASL mechanism' },
  { name: 'KAFKA_SASL_USERNAME', schema: text, doc: 'SASL user name' },
  { name: 'KAFKA_SASL_PASSWORD', schema: text, secret: true, doc: 'SASL password' },
  { name: 'KAFKA_IDEMPOTENT', schema: bool, default: 'true', doc: 'idempotent producer (turn off only for brokers that cannot do it)' },
  { name: 'KAFKA_SESSION_TIMEOUT_MS', schema: int(6000, 300000), default: '10000', doc: 'consumer group session (and rebalance) timeout: how long a dead member keeps its partitions' },
  { name: 'RAW_RETENTION_S', schema: int(0, 365 * 86400), doc: 'embedded bus: normalized webhooks kept this long for `mistbridge redeliver` (default 604800 with PRIVACY_MODE=off, 0 otherwise: raw bodies hold what privacy hides)' },
  { name: 'RAW_RETENTION_BYTES', schema: int(0, 1024 ** 4), doc: 'embedded bus: at most this much of them, oldest dropped first (default 1073741824 with PRIVACY_MODE=off, 0 otherwise); a full disk drops them before a webhook is refused' },
  { name: 'KAFKA_OCSF', schema: bool, default: 'false', doc: 'also write OCSF events (audits, alarms, NAC) as JSON to `<prefix>ocsf` (created by `mistbridge topics`)' },
  { name: 'KAFKA_PRODUCE_COALESCE', schema: bool, default: 'true', doc: 'writes to a topic that arrive while a send is in flight (webhooks also within `KAFKA_PRODUCE_LINGER_MS`) go out as one send: one record batch per partition; each 200 still waits for its own acknowledgement' },
  { name: 'KAFKA_PRODUCE_LINGER_MS', schema: int(0, 1000), default: '25', doc: 'how long the first webhook of a coalesced write to the raw topic waits for more (0: only what arrives while a send is in flight); pipeline stages never linger' },
  { name: 'KAFKA_PARTITIONS', schema: int(1, 10000), default: '6', doc: '`mistbridge topics`: partitions per topic' },
  { name: 'KAFKA_REPLICATION_FACTOR', schema: int(1, 10), default: '3', doc: '`mistbridge topics`: replication factor' },
  { name: 'KAFKA_RAW_RETENTION_MS', schema: int(60000, 2 ** 52), default: String(7 * 86400000), doc: '`mistbridge topics`: retention of the raw topic' },
  { name: 'SPLUNK_HEC_URL', schema: url, doc: 'e.g. https://splunk:8088; unset = Splunk sink off' },
  { name: 'SPLUNK_HEC_TOKEN', schema: text, secret: true, doc: 'HEC token' },
  { name: 'SPLUNK_HEC_INDEX', schema: text, doc: 'default index (unset = the token\'s default)' },
  { name: 'SPLUNK_HEC_ACK', schema: bool, default: 'false', doc: 'indexer acknowledgement (channel GUID + ack polling)' },
  { name: 'SPLUNK_HEC_FORMAT', schema: z.enum(['cim', 'ocsf', 'both']), default: 'cim', doc: 'events to Splunk as CIM-friendly JSON (`cim`), as OCSF (`ocsf`: audits, alarms, NAC only; sourcetype juniper:mist:ocsf), or `both`; incidents go in every format' },
  { name: 'SPLUNK_HEC_TLS_VERIFY', schema: bool, default: 'true', doc: 'verify the HEC certificate' },
  { name: 'SPLUNK_HEC_CA_FILE', schema: text, doc: 'CA bundle (PEM) for the HEC endpoint' },
  { name: 'SPLUNK_HEC_BATCH_MAX_EVENTS', schema: int(1, 100000), default: '500', doc: 'events per HEC request at most' },
  { name: 'SPLUNK_HEC_BATCH_MAX_BYTES', schema: int(1024, 1024 ** 3), default: '1000000', doc: 'uncompressed bytes per HEC request at most' },
  { name: 'SPLUNK_HEC_LINGER_MS', schema: int(0, 60000), default: '1000', doc: 'how long a partial batch waits for more events' },
  { name: 'SPLUNK_HEC_GZIP', schema: bool, default: 'true', doc: 'gzip request bodies' },
  { name: 'SPLUNK_HEC_TIMEOUT_MS', schema: int(100, 600000), default: '30000', doc: 'one HEC request\'s timeout' },
  { name: 'SPLUNK_HEC_ACK_POLL_MS', schema: int(10, 600000), default: '1000', doc: 'ack polling interval' },
  { name: 'SPLUNK_HEC_ACK_TIMEOUT_MS', schema: int(1000, 3600000), default: '300000', doc: 'an unacknowledged request is re-sent after this' },
  { name: 'SPLUNK_HEC_RETRY_MAX_MS', schema: int(10, 3600000), default: '30000', doc: 'cap of every wait between retries, Retry-After included, and the retry interval of a paused sink' },
  { name: 'SPLUNK_HEC_PROXY_RETRY_S', schema: int(0, 86400 * 7), default: '600', doc: 'a proxy-style HEC answer (4xx/5xx without a HEC JSON body) is retried this long, then dead-lettered `proxy_error`' },
  { name: 'PRIVACY_MODE', schema: z.enum(['off', 'hash', 'redact']), default: 'off', doc: 'personal fields (guest details, user names, client IPs) before Splunk: `off`, `hash` (keyed HMAC) or `redact`' },
  { name: 'PRIVACY_HASH_KEY', schema: text, secret: true, doc: 'HMAC key for `PRIVACY_MODE=hash`' },
  { name: 'DEDUPE_WINDOW_S', schema: int(0, 86400 * 7), default: '600', doc: 'events with an `event_id` seen within this window are dropped' },
  { name: 'SECURITY_QUIET_WINDOW_S', schema: int(1, 86400 * 365), default: '86400', doc: 'a site\'s security incident resolves after this long without security alarms' },
  { name: 'INCIDENT_UPDATE_MIN_S', schema: int(0, 86400), default: '60', doc: 'a version of an incident that changes only its counters (count, last seen, last event) goes to Splunk and notify at most once per this interval (the latest; state changes go at once)' },
  { name: 'INCIDENT_RETENTION_S', schema: int(0, 86400 * 365), default: String(7 * 86400), doc: 'resolved incidents are forgotten (tombstoned) after this' },
  { name: 'METRICS_LABEL_LIMIT', schema: int(0, 100000), default: '200', doc: 'distinct unknown `topic`/`type` label values before they are reported as `other`' },
  { name: 'MIST_API_TOKEN', schema: text, secret: true, doc: 'Mist API token (org read-only is enough): turns the Mist API companion on (names, device state, back-fill)' },
  { name: 'MIST_API_HOST', schema: text, default: 'api.mist.com', doc: 'the API host of the org\'s Mist cloud (`api.eu.mist.com`, `api.gc1.mist.com`, `api.ac2.mist.com`, ...); `https://` implied, a full URL accepted' },
  { name: 'MIST_ORG_ID', schema: list, doc: 'the org(s) to follow, comma-separated; discovered from `GET /api/v1/self` when the token sees exactly one' },
  { name: 'MIST_API_INVENTORY_S', schema: int(60, 86400), default: '900', doc: 'inventory refresh period (sites, devices)' },
  { name: 'MIST_API_RECONCILE_S', schema: int(10, 86400), default: '300', doc: 'device status check and back-fill period' },
  { name: 'MIST_API_BACKFILL_MAX_S', schema: int(0, 86400 * 30), default: '86400', doc: 'how far back back-fill looks at most' },
  { name: 'MIST_API_MAX_REQUESTS_PER_HOUR', schema: int(10, 100000), default: '2000', doc: 'this process\'s Mist API request budget (Mist allows 5,000 per hour per token)' },
  { name: 'NOTIFY_SLACK_WEBHOOK_URL', schema: url, secret: true, doc: 'Slack incoming-webhook URL: incident transitions to Slack' },
  { name: 'NOTIFY_TEAMS_WEBHOOK_URL', schema: url, secret: true, doc: 'Microsoft Teams workflow (or incoming) webhook URL' },
  { name: 'NOTIFY_GOOGLECHAT_WEBHOOK_URL', schema: url, secret: true, doc: 'Google Chat space webhook URL' },
  { name: 'NOTIFY_WEBHOOK_URL', schema: url, secret: true, doc: 'generic: POST of `{transition, incident, links}` per transition' },
  { name: 'NOTIFY_MIN_SEVERITY', schema: z.enum(SEVERITIES), default: 'medium', doc: 'transitions of incidents below this severity are not sent' },
  { name: 'NOTIFY_GROUP_S', schema: int(0, 3600), default: '30', doc: 'transitions within this window to one destination go out as one message' },
  { name: 'NOTIFY_RETRY_MAX_MS', schema: int(10, 3600000), default: '60000', doc: 'cap of every wait between retries of a message (429/5xx), `Retry-After` included' },
  { name: 'NOTIFY_LINK_SPLUNK', schema: text, doc: 'link template added to messages: `{incident_id}`, `{key}`, `{site_id}`, `{kind}` are filled in' },
  { name: 'NOTIFY_LINK_GRAFANA', schema: text, doc: 'link template added to messages, like NOTIFY_LINK_SPLUNK' },
  { name: 'MEMORY_LIMIT_MB', schema: int(64, 1_000_000), doc: 'the process\'s memory budget (default: the cgroup\'s `memory.max`, v1 `memory.limit_in_bytes`); the image passes Node\'s heap cap from it, and the backlog bounds derive from it' },
  { name: 'SCHEMA_HISTORY_DIR', schema: text, doc: 'more writer schemas (`<fingerprint>.avsc`) beside `schemas/history/`: copy a newer version\'s `schemas/history/` here before a rolling deploy of it, so this version reads what it writes' },
  { name: 'DATA_DIR', schema: text, default: './data', doc: 'where the embedded mode keeps what must survive a restart' },
  { name: 'LOG_LEVEL', schema: level, default: 'info', doc: 'winston level; logs are JSON lines on stdout' },
  { name: 'MISTBRIDGE_CONFIG', schema: text, doc: 'YAML file: the variables above plus severity, routing and correlation rules' },
];

export const VARIABLE_NAMES: ReadonlySet<string> = new Set(VARIABLES.map((v) => v.name));
