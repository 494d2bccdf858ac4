import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { Journal, scanSegment } from '../bus/embedded/journal';
import { topicNames } from '../bus/topics';
import type { Config, NotifyDestination } from '../config/config';
import { ConfigError } from '../config/load';
import type { MistEvent } from '../domain/mist-event';
import { canonicalTopic, routeFor } from '../domain/topic';
import { eventBodies, eventMatches } from '../notify/event-route';
import { poster } from '../notify/post';
import { webhookEvents } from '../normalizer/normalize';
import type { Logger } from '../shared/logger';
import { createMetrics } from '../shared/metrics';
import { HecClient } from '../sinks/splunk-hec/client';
import { eventEnvelopes } from '../sinks/splunk-hec/encoder';
import { HecSink } from '../sinks/splunk-hec/sink';
import { MISTBRIDGE_VERSION } from '../shared/version';
import type { Output } from './common';

export const REDELIVER_USAGE = `usage: mistbridge redeliver --from <time> --until <time> (--sink splunk | --route <name>)
         [--topic T]... [--site S]... [--margin <duration>] [--dry-run]
  Delivers again the events whose event time is in [--from, --until], to that one output only,
  with the same event_ids (in Splunk, \`dedup event_id\` removes overlaps). It reads the webhooks
  received in the window widened by --margin (default 1h: an event may arrive after its time),
  re-normalizes them and delivers by itself, paced, never through a running process's backlog.
  Times: ISO 8601 or epoch (seconds or milliseconds); durations: 90s, 30m, 2h, 1d.`;

/** Events a second at most towards Splunk: a re-delivery must not crowd out the live flow. */
const SPLUNK_EVENTS_PER_S = 5000;
const CHUNK = 1000;

interface Window {
  from: number;
  until: number;
  margin: number;
  topics: string[];
  sites: string[];
  output: { sink: 'splunk' } | { route: NotifyDestination };
  dryRun: boolean;
}

/** `mistbridge redeliver` (CONTRACT section 10). Exit 0 delivered, 1 some refused, 2 usage or a window past retention. */
export async function redeliverCommand(args: string[], config: Config, logger: Logger, out: Output, options: { isTTY?: boolean; sleep?: (ms: number) => Promise<void>; now?: () => number } = {}): Promise<number> {
  const window = parseArgs(args, config);
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));

  // The webhooks received in the widened window: the embedded journal (and its archive), or the raw topic.
  const low = window.from - window.margin;
  const high = window.until + window.margin;
  const { bodies, droppedBefore } = config.kafka ? await fromKafka(config, low, high) : fromJournal(config, low, high);
  // What is kept goes back the retention period, and not before what was already dropped (by bytes).
  const retentionMs = config.kafka ? config.kafka.rawRetentionMs : config.rawArchive.maxAgeMs;
  const horizon = Math.max((options.now ?? Date.now)() - retentionMs, droppedBefore ?? -Infinity);
  if (low < horizon) {
    out.stderr(
      `the window is past retention: it needs webhooks received from ${new Date(low).toISOString()}, and what is kept starts at ${new Date(horizon).toISOString()}; the earliest --from that would work is ${new Date(horizon + window.margin).toISOString()} (with --margin ${window.margin / 1000}s). ${config.kafka ? 'KAFKA_RAW_RETENTION_MS' : 'RAW_RETENTION_S and RAW_RETENTION_BYTES'} set how long webhooks are kept`,
    );
    return 2;
  }

  const rules = { map: config.normalizer.severityMap, overrides: config.normalizer.severityOverrides, privacy: config.normalizer.privacy };
  const seen = new Set<string>();
  const events: MistEvent[] = [];
  for (const { body, receivedAt } of bodies) {
    const webhook = webhookEvents(body, receivedAt, rules);
    if ('error' in webhook) continue;
    for (const result of webhook.results) {
      if (!result.ok) continue;
      const event = result.event;
      if (event.timestamp < window.from || event.timestamp > window.until || seen.has(event.event_id)) continue;
      if (window.topics.length > 0 && !window.topics.includes(canonicalTopic(event.topic))) continue;
      if (window.sites.length > 0 && !window.sites.includes(event.site_id ?? '') && !window.sites.includes(event.site_name ?? '')) continue;
      if (routeFor(config.normalizer.routes, event.topic)?.drop) continue;
      if ('route' in window.output && window.output.route.events && !eventMatches(window.output.route.events, event)) continue;
      seen.add(event.event_id);
      events.push(event);
    }
  }
  const target = 'sink' in window.output ? 'Splunk' : `route ${window.output.route.name}`;
  if (window.dryRun) {
    const byTopic = new Map<string, number>();
    for (const e of events) byTopic.set(canonicalTopic(e.topic), (byTopic.get(canonicalTopic(e.topic)) ?? 0) + 1);
    out.stdout(`dry run: ${events.length} events for ${target} from ${bodies.length} webhooks${[...byTopic].map(([t, n]) => `\n  ${t}: ${n}`).join('')}`);
    return 0;
  }

  const progress = new Progress(events.length, out, options.isTTY ?? false);
  const signal = new AbortController().signal;
  let refused = 0;
  if ('sink' in window.output) {
    if (!config.splunk) throw new ConfigError(['--sink splunk: set SPLUNK_HEC_URL and SPLUNK_HEC_TOKEN']);
    const sink = new HecSink(config.splunk, new HecClient(config.splunk), createMetrics(['splunk'], undefined, { processMetrics: false }).hec!, logger);
    const settings = { defaultIndex: config.splunk.index, routes: config.normalizer.routes, format: config.splunk.format, version: MISTBRIDGE_VERSION };
    for (let i = 0; i < events.length; i += CHUNK) {
      const began = performance.now();
      const chunk = events.slice(i, i + CHUNK);
      refused += (await sink.deliver(chunk.flatMap((e) => eventEnvelopes(e, settings)), signal)).length;
      progress.add(chunk.length);
      await sleep(Math.max(0, (chunk.length / SPLUNK_EVENTS_PER_S) * 1000 - (performance.now() - began)));
    }
  } else {
    const route = window.output.route;
    const post = poster(route, { retryMaxMs: config.notify.retryMaxMs, signal, limitMs: 120_000, onRetry: () => undefined });
    const per = route.kind === 'webhook' ? 1 : 20;
    for (let i = 0; i < events.length; i += per) {
      const chunk = events.slice(i, i + per);
      try {
        for (const body of eventBodies(route.kind, chunk)) await post(body);
      } catch (err) {
        refused += chunk.length;
        logger.error('redelivery refused by the route', { route: route.name, error: (err as Error).message });
      }
      progress.add(chunk.length);
      await sleep(1000 / route.ratePerS);
    }
  }
  progress.done();
  out.stdout(`redelivered ${events.length - refused} of ${events.length} events to ${target}${refused > 0 ? `; ${refused} refused (see the log)` : ''}`);
  return refused > 0 ? 1 : 0;
}

function parseArgs(args: string[], config: Config): Window {
  const values = new Map<string, string[]>();
  let dryRun = false;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--dry-run') dryRun = true;
    else if (['--from', '--until', '--topic', '--site', '--sink', '--route', '--margin'].includes(arg)) {
      const value = args[++i];
      if (value === undefined || value.startsWith('--')) throw new ConfigError([`${arg}: needs a value\n${REDELIVER_USAGE}`]);
      values.set(arg, [...(values.get(arg) ?? []), value]);
    } else throw new ConfigError([`unknown argument ${arg}\n${REDELIVER_USAGE}`]);
  }
  const one = (name: string): string | undefined => values.get(name)?.at(-1);
  const from = parseTime(one('--from'), '--from');
  const until = parseTime(one('--until'), '--until');
  if (until < from) throw new ConfigError(['--until: before --from']);
  const sink = one('--sink');
  const routeName = one('--route');
  if ((sink === undefined) === (routeName === undefined)) throw new ConfigError([`name one output: --sink splunk or --route <name>\n${REDELIVER_USAGE}`]);
  if (sink !== undefined && sink !== 'splunk') throw new ConfigError(['--sink: only splunk']);
  let output: Window['output'] = { sink: 'splunk' };
  if (routeName !== undefined) {
    const route = config.notify.destinations.find((d) => d.name === routeName);
    if (!route) throw new ConfigError([`--route: no route named ${routeName} (notify.routes in the YAML file): ${config.notify.destinations.map((d) => d.name).join(', ') || 'none configured'}`]);
    output = { route };
  }
  return {
    from,
    until,
    margin: parseDuration(one('--margin') ?? '1h'),
    topics: (values.get('--topic') ?? []).map(canonicalTopic),
    sites: values.get('--site') ?? [],
    output,
    dryRun,
  };
}

export function parseTime(value: string | undefined, name: string): number {
  if (value === undefined) throw new ConfigError([`${name}: required\n${REDELIVER_USAGE}`]);
  if (/^\d+(\.\d+)?$/.test(value)) {
    const n = Number(value);
    return n < 1e11 ? n * 1000 : n; // epoch seconds or milliseconds
  }
  const ms = Date.parse(value);
  if (!Number.isFinite(ms)) throw new ConfigError([`${name}: ${value} is neither ISO 8601 nor epoch`]);
  return ms;
}

export function parseDuration(value: string): number {
  const match = /^(\d+)(ms|s|m|h|d)?$/.exec(value);
  if (!match) throw new ConfigError([`--margin: ${value} is not a duration (90s, 30m, 2h, 1d)`]);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[(match[2] ?? 's') as 'ms' | 's' | 'm' | 'h' | 'd'];
  return Number(match[1]) * unit;
}

type Received = { body: Buffer; receivedAt: number };

/** The embedded journal and its archive, read directly (a running process keeps writing beside). */
function fromJournal(config: Config, low: number, high: number): { bodies: Received[]; droppedBefore: number | null } {
  const dir = join(config.dataDir, 'raw');
  if (!existsSync(dir)) return { bodies: [], droppedBefore: null };
  const bodies: Received[] = [];
  let earliest: number | null = null;
  const segments = Journal.segmentFiles(dir);
  for (const { start, path } of segments) {
    const fd = openSync(path, 'r');
    try {
      scanSegment(path, start, (record) => {
        const receivedAt = Number(record.headers.received_at);
        if (!Number.isFinite(receivedAt)) return;
        earliest = earliest === null ? receivedAt : Math.min(earliest, receivedAt);
        if (receivedAt < low || receivedAt > high) return;
        const body = Buffer.allocUnsafe(record.location.length);
        readSync(fd, body, 0, body.length, record.location.position);
        bodies.push({ body, receivedAt });
      });
    } finally {
      closeSync(fd);
    }
  }
  // Segments before the oldest kept one were dropped: nothing received before its first record is left.
  return { bodies, droppedBefore: (segments[0]?.start ?? 0) > 0 ? earliest : null };
}

/** The raw topic, every partition to its end, selected by the `received_at` header. */
async function fromKafka(config: Config, low: number, high: number): Promise<{ bodies: Received[]; droppedBefore: number | null }> {
  const { KafkaBus } = await import('../bus/kafka/kafka-bus');
  const { silentLogger } = await import('../shared/logger');
  const bus = new KafkaBus(config.kafka!, topicNames(config.topicPrefix), silentLogger());
  const bodies: Received[] = [];
  let droppedBefore: number | null = null;
  const first = new Set<number>();
  try {
    await bus.readToEnd(topicNames(config.topicPrefix).raw, (message) => {
      const receivedAt = Number(message.headers.received_at);
      if (!Number.isFinite(receivedAt) || !message.value) return;
      // A partition whose first record is not at offset 0 lost what came before it (retention).
      if (!first.has(message.partition)) {
        first.add(message.partition);
        if (BigInt(message.offset) > 0n) droppedBefore = Math.max(droppedBefore ?? -Infinity, receivedAt);
      }
      if (receivedAt >= low && receivedAt <= high) bodies.push({ body: message.value, receivedAt });
    });
  } finally {
    await bus.close();
  }
  return { bodies, droppedBefore };
}

/** A progress bar on a terminal (count, rate, ETA); plain lines every 5 s otherwise. */
class Progress {
  readonly #began = performance.now();
  #done = 0;
  #lastLine = 0;

  constructor(
    private readonly total: number,
    private readonly out: Output,
    private readonly tty: boolean,
  ) {}

  add(n: number): void {
    this.#done += n;
    const elapsed = (performance.now() - this.#began) / 1000;
    const rate = elapsed > 0 ? this.#done / elapsed : 0;
    const eta = rate > 0 ? Math.round((this.total - this.#done) / rate) : 0;
    const width = 30;
    const filled = this.total > 0 ? Math.round((this.#done / this.total) * width) : width;
    if (this.tty) process.stderr.write(`\r[${'#'.repeat(filled)}${' '.repeat(width - filled)}] ${this.#done}/${this.total} events ${Math.round(rate)}/s ETA ${eta}s `);
    else if (performance.now() - this.#lastLine >= 5000) {
      this.#lastLine = performance.now();
      this.out.stderr(`${this.#done}/${this.total} events, ${Math.round(rate)}/s, ETA ${eta}s`);
    }
  }

  done(): void {
    if (this.tty) process.stderr.write('\n');
  }
}
