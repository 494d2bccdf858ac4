import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import { SEVERITIES } from '../config/file-schema';
import type { Role } from '../config/variables';
import { DLQ_REASONS, type Stage } from '../dlq/reasons';
import { INCIDENT_KINDS } from '../domain/incident';

/**
 * Every metric mistbridge exports (CONTRACT section 7), declared here and nowhere else. A family is
 * registered only in a process that runs the role owning it, so sums across pods never double count.
 * Every series whose labels are known in advance exists from start-up at 0 (`zeroed`), so that
 * `rate()`/`increase()` see the first event after a restart and no alert waits for a series that
 * does not exist yet.
 */
export const WEBHOOK_OUTCOMES = ['accepted', 'bad_signature', 'malformed', 'too_large', 'unsupported_media_type', 'unavailable'] as const;
export const HEC_OUTCOMES = ['delivered', 'retried', 'rejected'] as const;
const TRANSITIONS = ['opened', 'resolved'] as const;

/** Every combination of the given label values, each set to 0. */
function zeroed<T extends Counter<string> | Gauge<string>>(metric: T, labels: Record<string, readonly string[]>): T {
  let combinations: Array<Record<string, string>> = [{}];
  for (const [name, values] of Object.entries(labels)) combinations = combinations.flatMap((c) => values.map((v) => ({ ...c, [name]: v })));
  for (const c of combinations) metric.inc(c, 0);
  return metric;
}

/** The dead-letter stage each role runs (the splunk role's stage is `splunk`). */
const stagesOf = (roles: readonly Role[]): Stage[] => roles.filter((r): r is Role & Stage => r in DLQ_REASONS);
export interface LagSource {
  lag(): Promise<Array<{ group: string; topic: string; partition: number; lag: number }>>;
}

export function createMetrics(roles: readonly Role[], lagSource?: LagSource, options: { processMetrics?: boolean } = {}) {
  const registry = new Registry();
  // prom-client's process metrics (one set per process; tests that start hundreds of runtimes in one process leave them out).
  if (options.processMetrics !== false) collectDefaultMetrics({ register: registry });
  const has = (role: Role): boolean => roles.includes(role);
  const registers = [registry];
  const consumes = roles.some((r) => r !== 'ingress');

  return {
    registry,
    ingress: has('ingress')
      ? {
          webhooks: zeroed(
            new Counter({
              name: 'mistbridge_webhooks_total',
              help: 'Webhook requests by outcome.',
              labelNames: ['outcome'] as const,
              registers,
            }),
            { outcome: WEBHOOK_OUTCOMES },
          ),
          tenantWebhooks: new Counter({
            name: 'mistbridge_tenant_webhooks_total',
            help: 'Webhook requests on tenant paths by org (orgs with keyed secrets; others "other") and outcome.',
            labelNames: ['org_id', 'outcome'] as const,
            registers,
          }),
          secretsReloadFailures: new Counter({
            name: 'mistbridge_secrets_reload_failures_total',
            help: 'Re-reads of MIST_WEBHOOK_SECRETS_FILE that failed (unreadable or invalid): the last good content stays in use.',
            registers,
          }),
          lastWebhook: new Gauge({
            name: 'mistbridge_last_webhook_timestamp_seconds',
            help: 'When the last webhook was accepted (epoch seconds); 0 until the first since start.',
            registers,
          }),
        }
      : null,
    normalizer: has('normalizer')
      ? {
          duplicates: new Counter({
            name: 'mistbridge_events_duplicate_total',
            help: 'Events dropped because their event_id was seen within the dedupe window.',
            labelNames: ['topic'] as const,
            registers,
          }),
          catalogueLookups: zeroed(
            new Counter({
              name: 'mistbridge_catalogue_lookups_total',
              help: "Where an alarm's or a device event's words came from: the built-in tables, Mist's catalogues (the companion's), or neither.",
              labelNames: ['source'] as const,
              registers,
            }),
            { source: ['builtin', 'api', 'none'] },
          ),
        }
      : null,
    dlq: consumes
      ? (() => {
          const counter = new Counter({
            name: 'mistbridge_dlq_total',
            help: 'Messages sent to the dead-letter queue by the stage that gave up on them.',
            labelNames: ['stage', 'reason'] as const,
            registers,
          });
          for (const stage of stagesOf(roles)) zeroed(counter, { stage: [stage], reason: DLQ_REASONS[stage] });
          return counter;
        })()
      : null,
    dlqRedriven: consumes
      ? zeroed(
          new Counter({
            name: 'mistbridge_dlq_redriven_total',
            help: 'Redriven dead letters re-processed, by the stage that re-processed them.',
            labelNames: ['stage'] as const,
            registers,
          }),
          { stage: stagesOf(roles) },
        )
      : null,
    events: has('metrics')
      ? {
          total: new Counter({
            name: 'mistbridge_events_total',
            help: 'Normalized events by topic, type and severity.',
            labelNames: ['topic', 'type', 'severity'] as const,
            registers,
          }),
          delay: new Histogram({
            name: 'mistbridge_event_delay_seconds',
            help: 'Time from the event happening to the ingress accepting it.',
            labelNames: ['topic'] as const,
            // Up to a day: Mist delivers some topics (audits, SLE) long after the event.
            buckets: [0.5, 1, 2, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200, 21600, 86400],
            registers,
          }),
          incidentsOpen: zeroed(
            new Gauge({
              name: 'mistbridge_incidents_open',
              help: 'Open incidents by kind and severity.',
              labelNames: ['kind', 'severity'] as const,
              registers,
            }),
            { kind: INCIDENT_KINDS, severity: SEVERITIES },
          ),
          incidentsTotal: zeroed(
            new Counter({
              name: 'mistbridge_incidents_total',
              help: 'Incident transitions by kind.',
              labelNames: ['kind', 'transition'] as const,
              registers,
            }),
            { kind: INCIDENT_KINDS, transition: TRANSITIONS },
          ),
          deviceUp: new Gauge({
            name: 'mistbridge_device_up',
            help: 'Device state following its incidents in event-time order: 1 up, 0 down.',
            labelNames: ['device_mac', 'device_type', 'site_id'] as const,
            registers,
          }),
          deviceInfo: new Gauge({
            name: 'mistbridge_device_info',
            help: 'Names of a device (always 1), to join on device_mac: from what events carry.',
            labelNames: ['device_mac', 'device_type', 'device_name', 'model', 'site_id', 'site_name'] as const,
            registers,
          }),
        }
      : null,
    hec: has('splunk')
      ? {
          events: zeroed(
            new Counter({
              name: 'mistbridge_hec_events_total',
              help: 'Events sent to Splunk HEC by outcome.',
              labelNames: ['outcome'] as const,
              registers,
            }),
            { outcome: HEC_OUTCOMES },
          ),
          duration: new Histogram({
            name: 'mistbridge_hec_request_duration_seconds',
            help: 'HEC request duration by HTTP status (or "error" when no response arrived).',
            labelNames: ['status'] as const,
            buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
            registers,
          }),
          paused: new Gauge({
            name: 'mistbridge_hec_paused',
            help: '1 while the HEC sink is paused because Splunk rejected its token.',
            registers,
          }),
        }
      : null,
    mistApi: has('mistapi')
      ? {
          requests: new Counter({
            name: 'mistbridge_mist_api_requests_total',
            help: 'Mist API requests by endpoint and HTTP status (or "error" when no response arrived).',
            labelNames: ['endpoint', 'status'] as const,
            registers,
          }),
          backfilled: zeroed(
            new Counter({
              name: 'mistbridge_backfill_events_total',
              help: 'Events recovered from the Mist API that no webhook delivered, by topic.',
              labelNames: ['topic'] as const,
              registers,
            }),
            { topic: ['alarms', 'audits', 'device-events'] },
          ),
        }
      : null,
    notify: has('notify')
      ? new Counter({
          name: 'mistbridge_notifications_total',
          help: 'Notification messages by destination and outcome (sent, retried, rejected).',
          labelNames: ['destination', 'outcome'] as const,
          registers,
        })
      : null,
    consumerLag: consumes
      ? new Gauge({
          name: 'mistbridge_consumer_lag',
          help: 'Messages behind the partition end, per consumer group.',
          labelNames: ['group', 'topic', 'partition'] as const,
          registers,
          // Measured at scrape time, so the figure is never older than the scrape.
          async collect() {
            if (!lagSource) return;
            this.reset();
            for (const l of await lagSource.lag()) this.set({ group: l.group, topic: l.topic, partition: String(l.partition) }, l.lag);
          },
        })
      : null,
  };
}

export type Metrics = ReturnType<typeof createMetrics>;
