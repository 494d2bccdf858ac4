// Writes the Grafana dashboard helm/mistbridge/files/mistbridge.json (used by compose and the
// chart) from the panel list below: `node scripts/build-dashboard.js`. A test checks that the file
// is this script's output and runs every query against a real Prometheus.
const { writeFileSync } = require('node:fs');
const { join } = require('node:path');

const DS = { type: 'prometheus', uid: '${datasource}' };
/** The scrape targets chosen by the job and namespace variables (All = every one). */
const S = 'job=~"$job", namespace=~"$namespace"';
/** Splunk searches behind the panels: the `mistbridge_index` macro of the Splunk app. */
const splunk = (title, search) => ({ title: `Splunk: ${title}`, url: `\${splunk}/en-US/app/mistbridge/search?q=${encodeURIComponent(`search \`mistbridge_index\` ${search}`)}`, targetBlank: true });

const DEVICE_NAMES = `* on(device_mac) group_left(device_name, site_name, model) mistbridge_device_info{${S}, site_name=~"$site"}`;

const panels = [
  { title: 'Webhooks by outcome', unit: 'reqps', targets: [[`sum by (outcome) (rate(mistbridge_webhooks_total{${S}}[5m]))`, '{{outcome}}']] },
  {
    title: 'Time since the last accepted webhook',
    type: 'stat',
    unit: 's',
    description: 'A day-one setup that never received a webhook shows the time since 1970.',
    thresholds: [[null, 'green'], [1800, 'red']],
    targets: [[`time() - max(mistbridge_last_webhook_timestamp_seconds{${S}})`, 'seconds']],
  },
  { title: 'Events by topic', unit: 'ops', targets: [[`sum by (topic) (rate(mistbridge_events_total{${S}}[5m]))`, '{{topic}}']], links: [splunk('events by topic', 'sourcetype="juniper:mist:*" | timechart count by sourcetype')] },
  { title: 'Events by severity', unit: 'ops', targets: [[`sum by (severity) (rate(mistbridge_events_total{${S}}[5m]))`, '{{severity}}']] },
  {
    title: 'Event delay (event time to ingress)',
    unit: 's',
    targets: [
      [`histogram_quantile(0.5, sum by (le) (rate(mistbridge_event_delay_seconds_bucket{${S}}[5m])))`, 'p50'],
      [`histogram_quantile(0.99, sum by (le) (rate(mistbridge_event_delay_seconds_bucket{${S}}[5m])))`, 'p99'],
    ],
  },
  { title: 'HEC deliveries by outcome', unit: 'ops', targets: [[`sum by (outcome) (rate(mistbridge_hec_events_total{${S}}[5m]))`, '{{outcome}}']] },
  { title: 'HEC request duration p99 by status', unit: 's', targets: [[`histogram_quantile(0.99, sum by (le, status) (rate(mistbridge_hec_request_duration_seconds_bucket{${S}}[5m])))`, '{{status}}']] },
  {
    title: 'HEC sink paused (token refused)',
    type: 'stat',
    thresholds: [[null, 'green'], [1, 'red']],
    mappings: { 0: ['delivering', 'green'], 1: ['PAUSED', 'red'] },
    targets: [[`max(mistbridge_hec_paused{${S}}) or on() vector(0)`, 'paused']],
  },
  { title: 'Dead letters (1h)', unit: 'short', targets: [[`sum by (stage, reason) (increase(mistbridge_dlq_total{${S}}[1h]))`, '{{stage}} {{reason}}']] },
  { title: 'Consumer lag', unit: 'short', targets: [[`sum by (group, topic) (mistbridge_consumer_lag{${S}})`, '{{group}} {{topic}}']] },
  { title: 'Duplicates dropped', unit: 'ops', targets: [[`sum by (topic) (rate(mistbridge_events_duplicate_total{${S}}[5m])) or on() vector(0)`, '{{topic}}']] },
  { title: 'Open incidents by kind and severity', unit: 'short', targets: [[`sum by (kind, severity) (mistbridge_incidents_open{${S}})`, '{{kind}} {{severity}}']], links: [splunk('open incidents', 'sourcetype="juniper:mist:incident" | dedup key | where state="open"')] },
  { title: 'Incident transitions (1h)', unit: 'short', targets: [[`sum by (kind, transition) (increase(mistbridge_incidents_total{${S}}[1h]))`, '{{kind}} {{transition}}']] },
  {
    title: 'Devices down, with their names (down first)',
    type: 'table',
    width: 16,
    mappings: { 0: ['down', 'red'], 1: ['up', 'green'] },
    // Named where an event named the device; the bare series otherwise (All sites only).
    targets: [[`sort(min by (device_mac, device_type, device_name, model, site_name) (mistbridge_device_up{${S}} ${DEVICE_NAMES}) or on(device_mac) min by (device_mac, device_type, site_id) (mistbridge_device_up{${S}}))`, '', true]],
    links: [splunk('device outages', 'sourcetype="juniper:mist:incident" kind=device | dedup incident_id | table opened_at resolved_at title site_name entities')],
  },
  { title: 'Devices down per site', type: 'barchart', width: 8, targets: [[`count by (site_name) ((mistbridge_device_up{${S}} == 0) ${DEVICE_NAMES}) or on() vector(0)`, '{{site_name}}', true]] },
  // The Mist API companion: quiet (0) without a token.
  { title: 'Mist API requests by endpoint and status', unit: 'reqps', targets: [[`sum by (endpoint, status) (rate(mistbridge_mist_api_requests_total{${S}}[5m])) or on() vector(0)`, '{{endpoint}} {{status}}']] },
  { title: 'Back-filled events (what webhooks missed, 1h)', unit: 'short', targets: [[`sum by (topic) (increase(mistbridge_backfill_events_total{${S}}[1h])) or on() vector(0)`, '{{topic}}']] },
  { title: 'Notifications by destination and outcome (1h)', unit: 'short', targets: [[`sum by (destination, outcome) (increase(mistbridge_notifications_total{${S}}[1h])) or on() vector(0)`, '{{destination}} {{outcome}}']] },
  { title: 'Resident memory', unit: 'bytes', targets: [[`process_resident_memory_bytes{${S}}`, '{{instance}}']] },
  { title: 'Event-loop lag p99', unit: 's', targets: [[`nodejs_eventloop_lag_p99_seconds{${S}}`, '{{instance}}']] },
  { title: 'Restarts (1h)', unit: 'short', targets: [[`changes(process_start_time_seconds{${S}}[1h])`, '{{instance}}']] },
];

function panel(spec, index, gridPos) {
  const fieldConfig = { defaults: { unit: spec.unit ?? 'none' }, overrides: [] };
  if (spec.thresholds) fieldConfig.defaults.thresholds = { mode: 'absolute', steps: spec.thresholds.map(([value, color]) => ({ value, color })) };
  if (spec.mappings) {
    fieldConfig.defaults.mappings = [{ type: 'value', options: Object.fromEntries(Object.entries(spec.mappings).map(([v, [text, color]], i) => [v, { text, color, index: i }])) }];
  }
  return {
    id: index + 1,
    title: spec.title,
    ...(spec.description ? { description: spec.description } : {}),
    type: spec.type ?? 'timeseries',
    datasource: DS,
    gridPos,
    fieldConfig,
    options: spec.type === 'stat' ? { colorMode: 'background', reduceOptions: { calcs: ['lastNotNull'] } } : {},
    ...(spec.links ? { links: spec.links } : {}),
    targets: spec.targets.map(([expr, legendFormat, instant], i) => ({
      refId: String.fromCharCode(65 + i),
      expr,
      legendFormat,
      datasource: DS,
      ...(instant ? { instant: true, format: 'table' } : {}),
    })),
  };
}

const variable = (name, label, query, extra = {}) => ({
  name,
  label,
  type: 'query',
  datasource: DS,
  query: { query, refId: name },
  definition: query,
  includeAll: true,
  multi: true,
  allValue: '.*',
  current: { text: 'All', value: '$__all' },
  refresh: 2,
  sort: 1,
  ...extra,
});

let x = 0;
let y = 0;
const laidOut = panels.map((spec, i) => {
  const w = spec.width ?? 12;
  if (x + w > 24) {
    x = 0;
    y += 8;
  }
  const gridPos = { h: 8, w, x, y };
  x += w;
  return panel(spec, i, gridPos);
});

const dashboard = {
  uid: 'mistbridge',
  title: 'mistbridge',
  description: 'Juniper Mist webhooks through mistbridge: ingress, normalization, Splunk delivery, incidents, devices.',
  tags: ['mistbridge', 'juniper-mist'],
  timezone: 'browser',
  schemaVersion: 39,
  version: 2,
  refresh: '30s',
  time: { from: 'now-6h', to: 'now' },
  templating: {
    list: [
      { name: 'datasource', label: 'Data source', type: 'datasource', query: 'prometheus', current: { text: 'Prometheus', value: 'prometheus' }, hide: 0 },
      variable('job', 'Job', 'label_values(process_start_time_seconds{job=~".*mistbridge.*"}, job)'),
      variable('namespace', 'Namespace', 'label_values(process_start_time_seconds{job=~".*mistbridge.*"}, namespace)'),
      variable('site', 'Site', 'label_values(mistbridge_device_info, site_name)'),
      { name: 'splunk', label: 'Splunk Web', type: 'textbox', query: 'https://splunk.example.com:8000', current: { text: 'https://splunk.example.com:8000', value: 'https://splunk.example.com:8000' }, hide: 0 },
    ],
  },
  annotations: { list: [] },
  panels: laidOut,
};

const text = `${JSON.stringify(dashboard, null, 2)}\n`;
if (require.main === module) writeFileSync(join(__dirname, '..', 'helm', 'mistbridge', 'files', 'mistbridge.json'), text);
module.exports = { dashboardText: text };
