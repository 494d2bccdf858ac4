import type { BusMessage, OutgoingMessage } from '../bus/bus';
import { compactedTopics, type Topics } from '../bus/topics';
import { SCHEMA_HEADER } from '../shared/avro';
import { letterId, type DeadLetterRecord, type Stage } from './dead-letter';

/** A redrive marker (CONTRACT section 1): the letter `redriven` was put back at `at`. */
export interface RedriveMarker {
  redriven: string;
  at: number;
}

/**
 * A letter as read back: 0.1 letters carry no id or time; theirs are derived (id over the record
 * as stored). `key` is the DLQ message's key on Kafka (the input's key), absent in the file.
 */
export type StoredLetter = Omit<DeadLetterRecord, 'dead_lettered_at'> & { dead_lettered_at: number | null; redriven_at: number | null; key?: string };

/** Headers of re-injected messages. */
export const REDRIVE_HEADER = 'mistbridge-redrive';
/** The earlier failures of a redriven message, so that a second failure names them (`previous`). */
export const REDRIVE_PREVIOUS_HEADER = 'mistbridge-redrive-previous';
/** Embedded bus: the topic a redriven message goes to once it is journaled (it travels through the durable raw journal). */
export const REDRIVE_TOPIC_HEADER = 'mistbridge-redrive-topic';
/** A message on the redrive topic: the (compacted) topic it was read from when it failed. */
export const REDRIVE_SOURCE_HEADER = 'mistbridge-redrive-source';
/** A redriven notify message: the one destination it goes to. */
export const REDRIVE_DESTINATION_HEADER = 'mistbridge-redrive-destination';

/** The topic a message stands for: its own, or for a redriven one on the redrive topic, the topic it came from. */
export function sourceTopic(message: Pick<BusMessage, 'topic' | 'headers'>): string {
  return message.headers[REDRIVE_SOURCE_HEADER] ?? message.topic;
}

/** Whether the consumer of `stage` (and, for notify, of `destination`) handles a message: redriven ones only by theirs. */
export function handledBy(headers: Record<string, string>, stage: string | undefined, destination: string | undefined): boolean {
  const redriven = headers[REDRIVE_HEADER];
  if (redriven === undefined) return true;
  const to = headers[REDRIVE_DESTINATION_HEADER];
  return redriven === stage && (to === undefined || to === destination);
}

/** Letters and markers of a DLQ (lines or messages, oldest first): the letters, each with its redrive time if marked. */
export function readLetters(records: Iterable<{ value: string; key?: string }>): StoredLetter[] {
  const letters = new Map<string, StoredLetter>();
  const markers = new Map<string, number>();
  for (const { value: text, key } of records) {
    let parsed: Record<string, unknown>;
    try {
      parsed = JSON.parse(text) as Record<string, unknown>;
    } catch {
      continue; // a torn last line
    }
    if (typeof parsed.redriven === 'string') {
      markers.set(parsed.redriven, typeof parsed.at === 'number' ? parsed.at : 0);
      continue;
    }
    if (typeof parsed.stage !== 'string') continue;
    const id = typeof parsed.id === 'string' ? parsed.id : letterId(parsed as Omit<DeadLetterRecord, 'id'>);
    letters.set(id, {
      ...(parsed as unknown as DeadLetterRecord),
      id,
      dead_lettered_at: typeof parsed.dead_lettered_at === 'number' ? parsed.dead_lettered_at : null,
      redriven_at: null,
      ...(key ? { key } : {}),
    });
  }
  for (const [id, at] of markers) {
    const letter = letters.get(id);
    if (letter) letter.redriven_at = at;
  }
  return [...letters.values()];
}

export interface Selection {
  ids?: readonly string[];
  stage?: string;
  reason?: string;
  /** Notify letters of these destinations (and 0.2 notify letters, which name none). */
  destinations?: readonly string[];
  /** Include letters already redriven. */
  all?: boolean;
}

export function select(letters: readonly StoredLetter[], selection: Selection): StoredLetter[] {
  const ids = selection.ids && selection.ids.length > 0 ? new Set(selection.ids) : null;
  return letters.filter(
    (l) =>
      (ids === null || ids.has(l.id)) &&
      (selection.stage === undefined || l.stage === selection.stage) &&
      (selection.reason === undefined || l.reason === selection.reason) &&
      (!selection.destinations?.length || (l.stage === 'notify' && (l.destination === undefined || selection.destinations.includes(l.destination)))) &&
      (selection.all || ids !== null || l.redriven_at === null),
  );
}

/**
 * Where a letter goes back to, and with what, or why it cannot (CONTRACT sections 1 and 10). A
 * letter read from a compacted topic goes through the redrive topic, never back into its source
 * (where it would become the key's latest state). A notify letter goes to its destination only;
 * a 0.2 one, which names none, to each destination named on the command line.
 */
export function redrivePlan(letter: StoredLetter, topics: Topics, destinations: readonly string[] = []): Array<{ topic: string; message: OutgoingMessage }> | { refused: string } {
  if (letter.truncated) return { refused: `letter ${letter.id} was truncated to fit the DLQ: its message cannot be put back whole` };
  const topic = redriveTopic(letter.stage, letter.topic, topics);
  if (!topic) return { refused: `letter ${letter.id}: no topic to put a ${letter.stage} letter of ${letter.topic} back to` };
  const to = letter.stage !== 'notify' ? [undefined] : letter.destination !== undefined ? [letter.destination] : destinations;
  if (to.length === 0) return { refused: `letter ${letter.id}: a notify letter of mistbridge 0.2 names no destination; name one with --destination` };
  const previous = [...(letter.previous ?? []), { id: letter.id, reason: letter.reason, error: letter.error }];
  const headers: Record<string, string> = { [REDRIVE_HEADER]: letter.stage, [REDRIVE_PREVIOUS_HEADER]: JSON.stringify(previous) };
  if (topic === topics.redrive) headers[REDRIVE_SOURCE_HEADER] = letter.topic;
  // Read with the schema it was written with (a 0.2 letter names none: 0.2 wrote this version's schemas).
  if (letter.schema) headers[SCHEMA_HEADER] = letter.schema;
  // The original receive time is not kept with a letter: a redriven webhook counts as received now.
  if (topic === topics.raw) headers.content_type = 'application/json';
  const value = Buffer.from(letter.value_base64, 'base64');
  return to.map((destination) => ({
    topic,
    message: { key: letter.key ?? letter.id, value, headers: destination === undefined ? headers : { ...headers, [REDRIVE_DESTINATION_HEADER]: destination } },
  }));
}

function redriveTopic(stage: Stage | string, topic: string, topics: Topics): string | null {
  if (stage === 'normalizer') return topics.raw;
  if (compactedTopics(topics).includes(topic)) return topics.redrive;
  return topic === topics.raw || topic === topics.events ? topic : null;
}

export function marker(id: string, at: number): OutgoingMessage {
  return { key: id, value: Buffer.from(JSON.stringify({ redriven: id, at } satisfies RedriveMarker)) };
}

/** `previous` of a letter written for a message that was itself redriven. */
export function previousOf(headers: Record<string, string>): DeadLetterRecord['previous'] {
  const text = headers[REDRIVE_PREVIOUS_HEADER];
  if (!text) return undefined;
  try {
    const parsed = JSON.parse(text) as unknown;
    return Array.isArray(parsed) ? (parsed as DeadLetterRecord['previous']) : undefined;
  } catch {
    return undefined;
  }
}
