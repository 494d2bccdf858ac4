import { join } from 'node:path';
import { readLines } from '../bus/embedded/dlq-file';
import type { KafkaBus } from '../bus/kafka/kafka-bus';
import { topicNames } from '../bus/topics';
import type { Config } from '../config/config';
import { ConfigError } from '../config/load';
import { keepAfter, redriveLetters, type RedriveResult } from '../dlq/api';
import { readLetters, select, type StoredLetter } from '../dlq/letters';
import { silentLogger } from '../shared/logger';
import { CommandError, adminUrl, type Output } from './common';

const USAGE = `usage:
  mistbridge dlq list [--stage S] [--reason R] [--destination D] [--all] [--json]
  mistbridge dlq show <id>
  mistbridge dlq redrive (<id>... | --stage S [--reason R]) [--destination D[,D...]] [--dry-run]
      notify letters go to the destination they name (--destination selects among them);
      a notify letter of 0.2 names none and goes only to the destinations named here
  mistbridge dlq purge --before <ISO time or epoch ms>`;

/**
 * `mistbridge dlq` (CONTRACT sections 1 and 4). Letters are read from `DATA_DIR/dlq.ndjson` (the
 * embedded bus: no running process needed) or `mist.dlq` (Kafka). An embedded redrive or purge is
 * done by the running process (it owns the journal and the file); on Kafka the command produces
 * itself. Exit 0 done (also when nothing matched, which it says), 1 failure, 2 usage.
 */
export async function dlqCommand(args: string[], config: Config, out: Output): Promise<number> {
  const [sub, ...rest] = args;
  const flags = parseFlags(rest, ['--stage', '--reason', '--before', '--destination'], ['--all', '--json', '--dry-run']);
  const destinations = flags.values['--destination']?.split(',').map((d) => d.trim()).filter(Boolean);
  const kafka = config.kafka ? await openKafka(config) : null;
  try {
    const letters = async (): Promise<StoredLetter[]> => (kafka ? readKafkaLetters(kafka, config) : readLetters((await readLines(dlqPath(config))).map((value) => ({ value }))));
    switch (sub) {
      case 'list': {
        const chosen = select(await letters(), { stage: flags.values['--stage'], reason: flags.values['--reason'], destinations, all: flags.switches.has('--all') });
        if (flags.switches.has('--json')) for (const letter of chosen) out.stdout(JSON.stringify(letter));
        else if (chosen.length === 0) out.stdout('no dead letters match');
        else for (const letter of chosen) out.stdout(listLine(letter));
        return 0;
      }
      case 'show': {
        const id = flags.positional[0];
        if (!id) throw new ConfigError([`dlq show: name a letter id\n${USAGE}`]);
        const letter = (await letters()).find((l) => l.id === id);
        if (!letter) {
          out.stdout(`no letter ${id}`);
          return 1;
        }
        out.stdout(JSON.stringify({ ...letter, value: decodeValue(letter.value_base64) }, null, 2));
        return 0;
      }
      case 'redrive': {
        const ids = flags.positional;
        const stage = flags.values['--stage'];
        if (ids.length === 0 && !stage) throw new ConfigError([`dlq redrive: name letter ids or --stage\n${USAGE}`]);
        const selection = { ids, stage, reason: flags.values['--reason'], destinations, dryRun: flags.switches.has('--dry-run') };
        const result = kafka ? await redriveKafka(kafka, config, selection, await letters()) : await askProcess<RedriveResult>(config, '/api/dlq/redrive', { ids, stage, reason: selection.reason, destinations, dry_run: selection.dryRun });
        if (result === null) {
          out.stderr(`no mistbridge process answers at ${adminUrl(config)}: an embedded redrive is done by the running process (start it, or set ADMIN_PORT/ADMIN_HOST/API_TOKEN as it runs)`);
          return 1;
        }
        for (const id of result.redriven) out.stdout(`${result.dry_run ? 'would redrive' : 'redriven'} ${id}`);
        for (const refused of result.refused) out.stderr(`not redriven ${refused.id}: ${refused.why}`);
        if (result.redriven.length === 0 && result.refused.length === 0) out.stdout('no dead letters match');
        return result.refused.length > 0 ? 1 : 0;
      }
      case 'purge': {
        const before = parseTime(flags.values['--before']);
        if (before === null) throw new ConfigError([`dlq purge: --before needs an ISO-8601 time or epoch milliseconds\n${USAGE}`]);
        if (kafka) throw new ConfigError([`dlq purge: ${config.topicPrefix}dlq keeps letters for its retention.ms (30 days from mistbridge topics); purge applies to the embedded DLQ`]);
        const answer = await askProcess<{ removed: number; kept: number }>(config, '/api/dlq/purge', { before });
        // No process runs: nothing else writes the file, so it is rewritten here.
        const result = answer ?? (await purgeFile(config, before));
        out.stdout(`purged ${result.removed} dead letters and markers from before ${new Date(before).toISOString()}; ${result.kept} kept`);
        return 0;
      }
      default:
        throw new ConfigError([`dlq: unknown or missing subcommand\n${USAGE}`]);
    }
  } finally {
    await kafka?.close();
  }
}

function dlqPath(config: Config): string {
  return join(config.dataDir, 'dlq.ndjson');
}

async function purgeFile(config: Config, before: number): Promise<{ removed: number; kept: number }> {
  const { DlqFile } = await import('../bus/embedded/dlq-file');
  const { before: had, after } = await new DlqFile(dlqPath(config)).rewrite((lines) => keepAfter(lines, before));
  return { removed: had - after, kept: after };
}

/** The running process's admin API; null when nothing answers there. */
async function askProcess<T>(config: Config, path: string, body: object): Promise<T | null> {
  let response: Response;
  try {
    response = await fetch(`${adminUrl(config)}${path}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(config.http.apiToken ? { authorization: `Bearer ${config.http.apiToken}` } : {}) },
      body: JSON.stringify(body),
      signal: AbortSignal.timeout(15_000),
    });
  } catch {
    return null;
  }
  // A refusal is final: the files of a running process are never edited behind its back.
  if (response.status === 401) throw new CommandError(`${adminUrl(config)} refused the request: set API_TOKEN as the running process has it`);
  if (response.status === 403) throw new CommandError(`${adminUrl(config)} refused the request: ${((await response.json().catch(() => ({}))) as { error?: string }).error ?? 'forbidden'} (run the command on the process's host, or set API_TOKEN)`);
  if (!response.ok) throw new CommandError(`${adminUrl(config)}${path}: HTTP ${response.status} ${await response.text()}`);
  return (await response.json()) as T;
}

async function openKafka(config: Config): Promise<KafkaBus> {
  const { KafkaBus } = await import('../bus/kafka/kafka-bus');
  return new KafkaBus(config.kafka!, topicNames(config.topicPrefix), silentLogger());
}

async function readKafkaLetters(kafka: KafkaBus, config: Config): Promise<StoredLetter[]> {
  const records: Array<{ value: string; key?: string }> = [];
  await kafka.readToEnd(topicNames(config.topicPrefix).dlq, (m) => {
    if (m.value) records.push({ value: m.value.toString('utf8'), key: m.key });
  });
  return readLetters(records);
}

function redriveKafka(kafka: KafkaBus, config: Config, selection: { ids: string[]; stage?: string; reason?: string; destinations?: string[]; dryRun: boolean }, letters: StoredLetter[]): Promise<RedriveResult> {
  const topics = topicNames(config.topicPrefix);
  return redriveLetters(letters, selection, topics, (topic, messages) => kafka.produce(topic, messages), (markers) => kafka.produce(topics.dlq, markers), Date.now());
}

function listLine(letter: StoredLetter): string {
  const when = letter.dead_lettered_at === null ? '(0.1 letter)' : new Date(letter.dead_lettered_at).toISOString();
  const flags = [letter.redriven_at !== null ? 'redriven' : '', letter.truncated ? 'truncated' : ''].filter(Boolean).join(',');
  const error = letter.error.length > 100 ? `${letter.error.slice(0, 97)}...` : letter.error;
  return [letter.id, when, letter.destination ? `${letter.stage}:${letter.destination}` : letter.stage, letter.reason, `${letter.topic}/${letter.partition}@${letter.offset}`, flags || '-', error].join('  ');
}

/** The dead message as text when it is text (JSON webhooks), else base64. */
function decodeValue(base64: string): unknown {
  const bytes = Buffer.from(base64, 'base64');
  const text = bytes.toString('utf8');
  if (!Buffer.from(text, 'utf8').equals(bytes)) return { base64 };
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return text;
  }
}

function parseTime(value: string | undefined): number | null {
  if (!value) return null;
  if (/^\d+$/.test(value)) return Number(value);
  const ms = Date.parse(value);
  return Number.isFinite(ms) ? ms : null;
}

function parseFlags(args: string[], valued: string[], switches: string[]): { values: Record<string, string | undefined>; switches: Set<string>; positional: string[] } {
  const values: Record<string, string | undefined> = {};
  const on = new Set<string>();
  const positional: string[] = [];
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    if (valued.includes(arg)) {
      const value = args[++i];
      if (value === undefined || value.startsWith('--')) throw new ConfigError([`${arg}: needs a value`]);
      values[arg] = value;
    } else if (switches.includes(arg)) on.add(arg);
    else if (arg.startsWith('--')) throw new ConfigError([`unknown option ${arg}\n${USAGE}`]);
    else positional.push(arg);
  }
  return { values, switches: on, positional };
}
