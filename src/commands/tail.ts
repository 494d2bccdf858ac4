import { randomUUID } from 'node:crypto';
import { topicNames } from '../bus/topics';
import type { Config } from '../config/config';
import { ConfigError } from '../config/load';
import { incidentCodec, publicIncident, type Incident } from '../domain/incident';
import { eventCodec, type MistEvent } from '../domain/mist-event';
import { canonicalTopic } from '../domain/topic';
import { SCHEMA_HEADER } from '../shared/avro';
import { silentLogger } from '../shared/logger';
import { parseFilter, showsEvent, showsIncident, type TailFilter } from '../tail/filter';
import { adminUrl, type Output } from './common';

const USAGE = 'usage: mistbridge tail [--topic T] [--site S] [--severity S] [--incidents] [--json] [--url URL]';

/** Terminal colours per severity; only when stdout is a TTY and NO_COLOR is unset. */
const COLOURS: Record<string, string> = { critical: '\x1b[1;31m', high: '\x1b[31m', medium: '\x1b[33m', low: '\x1b[36m', informational: '\x1b[2m' };
const RESET = '\x1b[0m';

export interface TailOptions {
  colour: boolean;
  /** Resolves when the tail should end (tests; the CLI runs until killed). */
  until?: Promise<void>;
}

/**
 * `mistbridge tail` (CONTRACT section 1): normalized events live, one readable line each, like a
 * webhook inspector; `--incidents` adds incident transitions. Embedded: the running process's
 * `/api/tail` (server-sent events). Kafka: `mist.events`/`mist.incidents` from their end offsets.
 * Exit 1 when it cannot connect.
 */
export async function tailCommand(args: string[], config: Config, out: Output, options: TailOptions): Promise<number> {
  const values: Record<string, string | boolean> = {};
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--incidents' || arg === '--json') values[arg.slice(2)] = true;
    else if (['--topic', '--site', '--severity', '--url'].includes(arg)) {
      const value = args[++i];
      if (value === undefined || value.startsWith('--')) throw new ConfigError([`${arg}: needs a value`]);
      values[arg.slice(2)] = value;
    } else throw new ConfigError([`tail: unknown argument ${arg}\n${USAGE}`]);
  }
  const filter = parseFilter(values);
  if ('problem' in filter) throw new ConfigError([`tail: --${filter.problem}`]);
  const print = printer(out, values.json === true, options.colour);
  if (config.kafka && values.url === undefined) return tailKafka(config, filter, print, out, options.until);
  return tailHttp(typeof values.url === 'string' ? values.url.replace(/\/+$/, '') : adminUrl(config), config.http.apiToken, filter, print, out, options.until);
}

type Printer = (item: { kind: 'event'; event: MistEvent } | { kind: 'incident'; incident: Omit<Incident, 'applied_event_ids'> }) => void;

function printer(out: Output, json: boolean, colour: boolean): Printer {
  const paint = (severity: string, text: string): string => (colour ? `${COLOURS[severity] ?? ''}${text}${RESET}` : text);
  return (item) => {
    if (json) return out.stdout(JSON.stringify(item.kind === 'event' ? item.event : item.incident));
    if (item.kind === 'event') {
      const e = item.event;
      const device = e.device_name ?? e.device_mac ?? '-';
      out.stdout([new Date(e.timestamp).toISOString(), canonicalTopic(e.topic), e.type, paint(e.severity, e.severity), e.site_name ?? e.site_id ?? '-', device, e.message].join('  '));
    } else {
      const i = item.incident;
      const transition = i.state === 'resolved' ? 'resolved' : i.version === 1 || i.event_count === 1 ? 'opened' : 'updated';
      out.stdout([new Date(i.updated_at).toISOString(), `incident ${transition}`, i.kind, paint(i.severity, i.severity), i.site_name ?? i.site_id ?? '-', i.entities.slice(0, 3).join(',') || '-', i.title].join('  '));
    }
  };
}

async function tailHttp(base: string, token: string | null, filter: TailFilter, print: Printer, out: Output, until?: Promise<void>): Promise<number> {
  const query = new URLSearchParams(Object.entries(filter).map(([k, v]): [string, string] => [k, String(v)]));
  const url = `${base}/api/tail?${query.toString()}`;
  const abort = new AbortController();
  void until?.then(() => abort.abort());
  let response: Response;
  try {
    response = await fetch(url, { headers: { accept: 'text/event-stream', ...(token ? { authorization: `Bearer ${token}` } : {}) }, signal: abort.signal });
  } catch (err) {
    out.stderr(`cannot connect to ${base}: ${(err as Error).message} (is mistbridge running with the normalizer role? --url names another)`);
    return 1;
  }
  if (response.status !== 200 || !response.body) {
    out.stderr(`${url}: HTTP ${response.status} ${response.status === 401 ? '(set API_TOKEN as the running process has it)' : await response.text()}`);
    return 1;
  }
  out.stderr(`tailing ${base}`);
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const name = /^event: (\w+)$/m.exec(frame)?.[1];
        const data = /^data: (.*)$/m.exec(frame)?.[1];
        if (!name || data === undefined) continue;
        if (name === 'event') print({ kind: 'event', event: JSON.parse(data) as MistEvent });
        else if (name === 'incident') print({ kind: 'incident', incident: JSON.parse(data) as Incident });
      }
    }
  } catch (err) {
    if (!abort.signal.aborted) {
      out.stderr(`the stream from ${base} ended: ${(err as Error).message}`);
      return 1;
    }
  }
  return 0;
}

async function tailKafka(config: Config, filter: TailFilter, print: Printer, out: Output, until?: Promise<void>): Promise<number> {
  const { createKafka } = await import('../bus/kafka/client');
  const topics = topicNames(config.topicPrefix);
  const events = eventCodec();
  const incidents = incidentCodec();
  const consumer = createKafka(config.kafka!, silentLogger()).consumer({ groupId: `mistbridge-tail-${randomUUID()}`, sessionTimeout: config.kafka!.sessionTimeoutMs });
  try {
    await consumer.connect();
    // A new group starts at the end offsets: what arrives from now on.
    await consumer.subscribe({ topics: filter.incidents ? [topics.events, topics.incidents] : [topics.events], fromBeginning: false });
  } catch (err) {
    out.stderr(`cannot connect to Kafka at ${config.kafka!.brokers.join(',')}: ${(err as Error).message}`);
    await consumer.disconnect().catch(() => undefined);
    return 1;
  }
  let announced = false;
  consumer.on(consumer.events.GROUP_JOIN, () => {
    if (!announced) out.stderr(`tailing ${config.kafka!.brokers.join(',')} (${filter.incidents ? `${topics.events}, ${topics.incidents}` : topics.events})`);
    announced = true;
  });
  await consumer.run({
    autoCommit: false,
    eachMessage: async ({ topic, message }) => {
      if (!message.value) return;
      try {
        if (topic === topics.events) {
          const event = events.decode(message.value, message.headers?.[SCHEMA_HEADER]?.toString());
          if (showsEvent(filter, event)) print({ kind: 'event', event });
        } else {
          const incident = incidents.decode(message.value, message.headers?.[SCHEMA_HEADER]?.toString());
          if (showsIncident(filter, incident)) print({ kind: 'incident', incident: publicIncident(incident) });
        }
      } catch {
        // written with another schema: a tail shows what it can read
      }
    },
  });
  await (until ?? new Promise<void>(() => undefined));
  await consumer.disconnect();
  return 0;
}
