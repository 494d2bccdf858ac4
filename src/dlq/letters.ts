import type { OutgoingMessage } from '../bus/bus';
import type { Topics } from '../bus/topics';
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
      (selection.all || ids !== null || l.redriven_at === null),
  );
}

/** Where a letter goes back to, and with what, or why it cannot (CONTRACT section 1). */
export function redrivePlan(letter: StoredLetter, topics: Topics): { topic: string; message: OutgoingMessage } | { refused: string } {
  if (letter.truncated) return { refused: `letter ${letter.id} was truncated to fit the DLQ: its message cannot be put back whole` };
  const topic = redriveTopic(letter.stage, letter.topic, topics);
  if (!topic) return { refused: `letter ${letter.id}: no topic to put a ${letter.stage} letter of ${letter.topic} back to` };
  const previous = [...(letter.previous ?? []), { id: letter.id, reason: letter.reason, error: letter.error }];
  const headers: Record<string, string> = { [REDRIVE_HEADER]: letter.stage, [REDRIVE_PREVIOUS_HEADER]: JSON.stringify(previous) };
  // The original receive time is not kept with a letter: a redriven webhook counts as received now.
  if (topic === topics.raw) headers.content_type = 'application/json';
  return { topic, message: { key: letter.key ?? letter.id, value: Buffer.from(letter.value_base64, 'base64'), headers } };
}

function redriveTopic(stage: Stage | string, topic: string, topics: Topics): string | null {
  const known = new Set<string>([topics.raw, topics.events, topics.incidents]);
  if (stage === 'normalizer') return topics.raw;
  return known.has(topic) ? topic : null;
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
