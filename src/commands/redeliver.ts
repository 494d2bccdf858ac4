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
import { fullCollection } from '../shared/memory-account';
import { MISTBRIDGE_VERSION } from '../shared/version';
import type { Output } from './common';
import { journalWindow, kafkaWindow, type Received, type ReceivedWindow } from './redeliver-source';

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
export async function redeliverCommand(args: string[], config: Config, logger: Logger, out: Output, options: { terminal?: (text: string) => void; sleep?: (ms: number) => Promise<void>; now?: () => number } = {}): Promise<number> {
  const window = parseArgs(args, config);
  const sleep = options.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));

  // The webhooks received in the widened window: the embedded journal (and its archive), or the raw topic.
  const low = window.from - window.margin;
  const high = window.until + window.margin;
  // What is kept goes back the retention period (known without reading), and not before what was already dropped (by bytes).
  const retentionMs = config.kafka ? config.kafka.rawRetentionMs : config.rawArchive.maxAgeMs;
  const refuse = (horizon: number): number => {
    out.stderr(
      `the window is past retention: it needs webhooks received from ${new Date(low).toISOString()}, and what is kept starts at ${new Date(horizon).toISOString()}; the earliest --from that would work is ${new Date(horizon + window.margin).toISOString()} (with --margin ${window.margin / 1000}s). ${config.kafka ? 'KAFKA_RAW_RETENTION_MS' : 'RAW_RETENTION_S and RAW_RETENTION_BYTES'} set how long webhooks are kept`,
    );
    return 2;
  };
  const retained = (options.now ?? Date.now)() - retentionMs;
  if (low < retained) return refuse(retained);
  const source = config.kafka ? await kafkaWindow(config, low, high) : journalWindow(config, low, high);
  try {
    if (source.horizon !== null && low < source.horizon) return refuse(Math.max(retained, source.horizon));
    const target = 'sink' in window.output ? 'Splunk' : `route ${window.output.route.name}`;
    const select = selection(window, config);
    const tidy = tidier();
    if (window.dryRun) {
      const byTopic = new Map<string, number>();
      let [webhooks, events] = [0, 0];
      await source.read(async (received) => {
        webhooks++;
        tidy();
        for (const e of select(received)) {
          events++;
          byTopic.set(canonicalTopic(e.topic), (byTopic.get(canonicalTopic(e.topic)) ?? 0) + 1);
        }
      });
      out.stdout(`dry run: ${events} events for ${target} from ${webhooks} webhooks${[...byTopic].map(([t, n]) => `\n  ${t}: ${n}`).join('')}`);
      return 0;
    }

    // Streamed: a chunk of selected events is delivered (paced) before more webhooks are read.
    const progress = new Progress(source, out, options.terminal);
    const deliver = delivery(window.output, config, logger, sleep);
    const pending: MistEvent[] = [];
    const flush = async (): Promise<void> => {
      const chunk = pending.splice(0);
      if (chunk.length > 0) await deliver.send(chunk);
      progress.events(chunk.length);
    };
    await source.read(async (received) => {
      tidy();
      pending.push(...select(received));
      if (pending.length >= deliver.chunk) await flush();
    });
    await flush();
    progress.done();
    const total = progress.delivered;
    out.stdout(`redelivered ${total - deliver.refused} of ${total} events to ${target}${deliver.refused > 0 ? `; ${deliver.refused} refused (see the log)` : ''}`);
    return deliver.refused > 0 ? 1 : 0;
  } finally {
    await source.close();
  }
}

/** Memory in use above which the command collects its garbage at once (what it holds is far less). */
const COLLECT_ABOVE_BYTES = 64 * 1024 * 1024;

/**
 * Node collects lazily, up to a heap limit sized for the whole machine; the command often runs
 * inside a pod beside mistbridge (`kubectl exec`), where that would be an OOM kill. What it holds
 * is a chunk of events: past COLLECT_ABOVE_BYTES in use, the rest is garbage, collected at once.
 */
function tidier(): () => void {
  const collect = fullCollection();
  return () => {
    const { heapUsed, external } = process.memoryUsage();
    if (collect && heapUsed + external > COLLECT_ABOVE_BYTES) collect();
  };
}

/** Ids remembered against duplicates (a topic on at both org and site level arrives twice, seconds apart). */
const RECENT_IDS = 100_000;

/** The window's events of one webhook, normalized as the normalizer would, each once. */
function selection(window: Window, config: Config): (received: Received) => MistEvent[] {
  const rules = { map: config.normalizer.severityMap, overrides: config.normalizer.severityOverrides, privacy: config.normalizer.privacy };
  const recent = new Set<string>();
  return ({ body, receivedAt }) => {
    const webhook = webhookEvents(body, receivedAt, rules);
    if ('error' in webhook) return [];
    const events: MistEvent[] = [];
    for (const result of webhook.results) {
      if (!result.ok) continue;
      const event = result.event;
      if (event.timestamp < window.from || event.timestamp > window.until || recent.has(event.event_id)) continue;
      if (window.topics.length > 0 && !window.topics.includes(canonicalTopic(event.topic))) continue;
      if (window.sites.length > 0 && !window.sites.includes(event.site_id ?? '') && !window.sites.includes(event.site_name ?? '')) continue;
      if (routeFor(config.normalizer.routes, event.topic)?.drop) continue;
      if ('route' in window.output && window.output.route.events && !eventMatches(window.output.route.events, event)) continue;
      recent.add(event.event_id);
      if (recent.size > RECENT_IDS) recent.delete(recent.values().next().value!);
      events.push(event);
    }
    return events;
  };
}

/** The one output, paced: Splunk in chunks at SPLUNK_EVENTS_PER_S, a route at its own rate cap. */
function delivery(output: Window['output'], config: Config, logger: Logger, sleep: (ms: number) => Promise<void>): { chunk: number; refused: number; send(events: MistEvent[]): Promise<void> } {
  const signal = new AbortController().signal;
  if ('sink' in output) {
    const splunk = config.splunk!; // parseArgs refused --sink splunk without it
    const sink = new HecSink(splunk, new HecClient(splunk), createMetrics(['splunk'], undefined, { processMetrics: false }).hec!, logger);
    const settings = { defaultIndex: splunk.index, routes: config.normalizer.routes, format: splunk.format, version: MISTBRIDGE_VERSION };
    return {
      chunk: CHUNK,
      refused: 0,
      async send(events) {
        const began = performance.now();
        this.refused += (await sink.deliver(events.flatMap((e) => eventEnvelopes(e, settings)), signal)).length;
        await sleep(Math.max(0, (events.length / SPLUNK_EVENTS_PER_S) * 1000 - (performance.now() - began)));
      },
    };
  }
  const route = output.route;
  const post = poster(route, { retryMaxMs: config.notify.retryMaxMs, signal, limitMs: 120_000, onRetry: () => undefined });
  const per = route.kind === 'webhook' ? 1 : 20; // a generic webhook takes one event per POST; chat groups
  return {
    chunk: per,
    refused: 0,
    async send(events) {
      for (let i = 0; i < events.length; i += per) {
        const chunk = events.slice(i, i + per);
        try {
          for (const body of eventBodies(route.kind, chunk)) await post(body);
        } catch (err) {
          this.refused += chunk.length;
          logger.error('redelivery refused by the route', { route: route.name, error: (err as Error).message });
        }
        await sleep(1000 / route.ratePerS);
      }
    },
  };
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
  if (sink !== undefined && !config.splunk) throw new ConfigError(['--sink splunk: set SPLUNK_HEC_URL and SPLUNK_HEC_TOKEN']);
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

/**
 * Progress on a terminal: a bar of the webhooks read (of those the window may hold), the events delivered,
 * their rate and an ETA; on anything else, a plain line every 5 s.
 */
class Progress {
  readonly #began = performance.now();
  #delivered = 0;
  #lastLine = 0;

  constructor(
    private readonly source: Pick<ReceivedWindow, 'webhooks' | 'readSoFar'>,
    private readonly out: Output,
    /** Writes to a terminal, when stderr is one. */
    private readonly terminal?: (text: string) => void,
  ) {}

  get delivered(): number {
    return this.#delivered;
  }

  events(n: number): void {
    this.#delivered += n;
    const elapsed = (performance.now() - this.#began) / 1000;
    const rate = elapsed > 0 ? this.#delivered / elapsed : 0;
    const [read, total] = [this.source.readSoFar(), this.source.webhooks];
    const fraction = total > 0 ? Math.min(1, read / total) : 1;
    const eta = fraction > 0 ? Math.round((elapsed * (1 - fraction)) / fraction) : 0;
    const line = `${this.#delivered} events, ${read}/${total} webhooks read, ${Math.round(rate)}/s, ETA ${eta}s`;
    if (this.terminal) {
      const filled = Math.round(fraction * 30);
      this.terminal(`\r[${'#'.repeat(filled)}${' '.repeat(30 - filled)}] ${line} `);
    } else if (performance.now() - this.#lastLine >= 5000) {
      this.#lastLine = performance.now();
      this.out.stderr(line);
    }
  }

  done(): void {
    this.terminal?.('\n');
  }
}
