import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { reduce, type CorrelatorView } from '../../src/correlator/reducer';
import { buildRules } from '../../src/correlator/rules';
import type { Incident } from '../../src/domain/incident';
import { normalizeWebhook } from '../../src/normalizer/normalize';
import { eventEnvelopes, incidentEnvelope } from '../../src/sinks/splunk-hec/encoder';
import { sample, sampleFiles } from '../helpers/fixtures';

/**
 * The Splunk app (deploy/splunk/mistbridge): its .conf files parse, every search starts with the
 * `mistbridge_index` macro, and every field a search or the dashboard uses is one mistbridge
 * sends: checked against the HEC encoder's real output for the sample corpus and the incidents
 * the reducer opens from it.
 */
const APP = join(__dirname, '..', '..', 'deploy', 'splunk', 'mistbridge');
type Conf = Map<string, Map<string, string>>;

/** Splunk's .conf syntax: [stanza], key = value, # comments, blank lines. */
function parseConf(text: string, file: string): Conf {
  const conf: Conf = new Map();
  let stanza: Map<string, string> | null = null;
  text.split('\n').forEach((line, i) => {
    if (/^\s*(#.*)?$/.test(line)) return;
    const header = /^\[([^\]]*)\]\s*$/.exec(line);
    if (header) {
      stanza = new Map();
      conf.set(header[1]!, stanza);
      return;
    }
    const pair = /^([A-Za-z0-9_.:-]+)\s*=\s*(.*)$/.exec(line);
    if (!pair || !stanza) throw new Error(`${file}:${i + 1}: not a stanza or key = value: ${line}`);
    stanza.set(pair[1]!, pair[2]!);
  });
  return conf;
}

const confs = new Map(readdirSync(join(APP, 'default')).filter((f) => f.endsWith('.conf')).map((f) => [f, parseConf(readFileSync(join(APP, 'default', f), 'utf8'), f)]));
const views = readdirSync(join(APP, 'default', 'data', 'ui', 'views')).map((f) => readFileSync(join(APP, 'default', 'data', 'ui', 'views', f), 'utf8'));
const xmlText = (s: string): string => s.replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&quot;/g, '"').replace(/&amp;/g, '&');
const searches: Array<{ where: string; search: string }> = [
  ...[...confs.get('eventtypes.conf')!].map(([name, s]) => ({ where: `eventtypes.conf [${name}]`, search: s.get('search')! })),
  ...[...confs.get('savedsearches.conf')!].map(([name, s]) => ({ where: `savedsearches.conf [${name}]`, search: s.get('search')! })),
  ...views.flatMap((v) => [...v.matchAll(/<query>([\s\S]*?)<\/query>/g)].map((m) => ({ where: 'dashboard', search: xmlText(m[1]!) }))),
];

/** Field names a search reads (not those it creates with `eval x=` or `AS x`). */
function fieldsRead(search: string): { read: Set<string>; created: Set<string> } {
  const text = search.replace(/"(?:[^"\\]|\\.)*"/g, '""').replace(/`[^`]*`/g, ' ');
  const read = new Set<string>();
  const created = new Set<string>();
  text.split('|').forEach((command, i) => {
    // The first command is an implicit `search`; in a search, `field=value` compares with a literal.
    const [first, ...rest] = command.trim().split(/\s+/);
    const name = i === 0 ? 'search' : first;
    let body = i === 0 ? command : rest.join(' ');
    if (name === 'search') body = body.replace(/(!?=)\s*[\w.:*-]+/g, '$1 ""');
    for (const m of body.matchAll(/\b(?:as|AS)\s+([A-Za-z_][\w.]*)/g)) created.add(m[1]!);
    if (name === 'eval') for (const m of body.matchAll(/(?:^|,)\s*([A-Za-z_]\w*)\s*=(?!=)/g)) created.add(m[1]!);
    const words = [...body.matchAll(/\b([A-Za-z_][\w.]*)\b(?!\s*\()/g)].map((m) => m[1]!);
    for (const word of words) if (!KEYWORDS.has(word.toLowerCase()) && !/^\d/.test(word)) read.add(word);
  });
  for (const c of created) read.delete(c);
  return { read, created };
}
const KEYWORDS = new Set(['by', 'as', 'and', 'or', 'not', 'limit', 'count', 'sum', 'avg', 'perc95', 'max', 'min', 'true', 'false', 'null', 'span', 'earliest', 'latest', 'dedup', 'table', 'stats', 'top', 'where', 'eval', 'sort', 'timechart', 'search', 'in']);
const BUILT_IN = new Set(['_time', '_indextime', 'index', 'source', 'sourcetype', 'host', 'eventtype', 'tag']);

function sentFields(): Set<string> {
  const fields = new Set<string>();
  const add = (envelope: string): void => {
    const parsed = JSON.parse(envelope) as { event: Record<string, unknown>; fields: Record<string, string> };
    // KV_MODE = json: nested objects as dotted names.
    const walk = (value: unknown, prefix: string): void => {
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) for (const [k, v] of Object.entries(value)) walk(v, prefix ? `${prefix}.${k}` : k);
      else fields.add(prefix);
    };
    walk(parsed.event, '');
    for (const k of Object.keys(parsed.fields)) fields.add(k);
  };
  const incidents = new Map<string, Incident>();
  const view: CorrelatorView = { incident: (key) => incidents.get(key), recovery: () => undefined };
  const rules = buildRules({}, 86_400_000, 7 * 86_400_000);
  for (const file of sampleFiles()) {
    const webhook = normalizeWebhook(sample(file), Date.now(), { map: {}, overrides: {} });
    if ('error' in webhook) continue;
    for (const r of webhook.results) {
      if (!r.ok) continue;
      for (const envelope of eventEnvelopes(r.event, { defaultIndex: 'mist', routes: {}, format: 'both' })) add(envelope);
      for (const incident of reduce(view, r.event, rules).incidents) incidents.set(incident.key, incident);
    }
  }
  expect([...incidents.values()].map((i) => i.kind).sort()).toEqual(expect.arrayContaining(['device', 'marvis', 'security']));
  for (const incident of incidents.values()) add(incidentEnvelope(incident, 'mist'));
  return fields;
}

describe('Splunk app', () => {
  it('has the pieces: app id and version, the index macro, CIM fields, saved searches, a dashboard', () => {
    expect(confs.get('app.conf')!.get('package')!.get('id')).toBe('mistbridge');
    expect(confs.get('app.conf')!.get('launcher')!.get('version')).toBe(JSON.parse(readFileSync(join(__dirname, '..', '..', 'package.json'), 'utf8')).version);
    expect(confs.get('macros.conf')!.get('mistbridge_index')!.get('definition')).toBe('index=mist');
    expect(confs.get('savedsearches.conf')!.size).toBeGreaterThanOrEqual(3);
    expect(views.length).toBeGreaterThanOrEqual(1);
  });

  it('keeps only search-time settings (HEC /event skips line breaking and timestamp extraction)', () => {
    const props = [...confs.get('props.conf')!.values()].flatMap((s) => [...s.keys()]);
    for (const parseTime of ['TIME_PREFIX', 'TIME_FORMAT', 'MAX_TIMESTAMP_LOOKAHEAD', 'SHOULD_LINEMERGE', 'LINE_BREAKER', 'TRUNCATE']) expect(props).not.toContain(parseTime);
    expect(confs.has('transforms.conf')).toBe(false);
  });

  it('maps CIM Alerts type to its allowed values for alarms and incidents, and keeps Mist\'s type as mist_type', () => {
    const props = confs.get('props.conf')!.get('source::mistbridge')!;
    expect(props.get('EVAL-type')).toBe('if(sourcetype=="juniper:mist:alarms" OR sourcetype=="juniper:mist:incident", "alarm", type)');
    expect(props.get('EVAL-mist_type')).toBe('type');
  });

  it('indexes only names the JSON event never uses, so no field comes back multivalue', () => {
    const sent = sentFields();
    for (const indexed of confs.get('fields.conf')!.keys()) {
      expect(indexed).toMatch(/^mb_/);
      expect(sent.has(indexed)).toBe(true);
    }
  });

  it('every search starts with `mistbridge_index` and names no index itself', () => {
    expect(searches.length).toBeGreaterThanOrEqual(9);
    for (const { where, search } of searches) {
      expect({ where, start: search.trim().startsWith('`mistbridge_index`') }).toEqual({ where, start: true });
      expect({ where, index: /\bindex\s*=/.test(search) }).toEqual({ where, index: false });
    }
  });

  it('every field a search or the dashboard reads is one mistbridge sends (or the app computes)', () => {
    const sent = sentFields();
    const computed = new Set([...confs.get('props.conf')!.get('source::mistbridge')!.keys()].filter((k) => k.startsWith('EVAL-')).map((k) => k.slice(5)));
    const unknown: string[] = [];
    for (const { where, search } of searches) {
      for (const field of fieldsRead(search).read) if (!sent.has(field) && !computed.has(field) && !BUILT_IN.has(field)) unknown.push(`${where}: ${field}`);
    }
    expect(unknown).toEqual([]);
  });

  it('the field check can fail: a field nobody sends is reported', () => {
    expect([...fieldsRead('`mistbridge_index` kind=device | stats count by sitename').read]).toEqual(['kind', 'sitename']);
  });
});
