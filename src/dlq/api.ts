import express, { Router } from 'express';
import type { OutgoingMessage } from '../bus/bus';
import type { Topics } from '../bus/topics';
import { Pager } from '../http/paging';
import { marker, readLetters, redrivePlan, select, type StoredLetter } from './letters';

/** What a process's DLQ offers its admin API: the embedded file, or (Kafka) the DLQ topic. */
export interface DlqAccess {
  letters(): Promise<StoredLetter[]>;
  /** Re-injects durably (the raw journal; Kafka: the stage's topic). */
  redrive(topic: string, messages: OutgoingMessage[]): Promise<void>;
  /** Appends redrive markers. */
  mark(markers: OutgoingMessage[]): Promise<void>;
  /** Embedded only: the DLQ topic keeps letters for its retention. */
  purge?(before: number): Promise<{ removed: number; kept: number }>;
}

/** The embedded DLQ file as DlqAccess. */
export function embeddedDlq(file: { read(): Promise<string[]>; append(lines: string[]): Promise<void>; rewrite(keep: (lines: string[]) => string[]): Promise<{ before: number; after: number }> }, redrive: DlqAccess['redrive']): DlqAccess {
  return {
    letters: async () => readLetters((await file.read()).map((value) => ({ value }))),
    redrive,
    mark: (markers) => file.append(markers.map((m) => m.value!.toString('utf8'))),
    purge: async (before) => {
      const { before: had, after } = await file.rewrite((lines) => keepAfter(lines, before));
      return { removed: had - after, kept: after };
    },
  };
}

/** How long a read of the DLQ topic answers again: every open console asks every 5 s, and each read joins a consumer group. */
const KAFKA_READ_REUSE_MS = 10_000;

/**
 * The DLQ topic as DlqAccess (Kafka: served by the process that runs the correlator role). One
 * read at a time, reused for KAFKA_READ_REUSE_MS; a redrive or a marker makes the next ask read again.
 */
export function kafkaDlq(bus: { readToEnd(topic: string, each: (m: { key: string; value: Buffer | null }) => void): Promise<unknown>; produce(topic: string, messages: OutgoingMessage[]): Promise<unknown> }, dlqTopic: string, now: () => number = Date.now): DlqAccess {
  let last: { at: number; letters: Promise<StoredLetter[]> } | null = null;
  const read = async (): Promise<StoredLetter[]> => {
    const records: Array<{ value: string; key?: string }> = [];
    await bus.readToEnd(dlqTopic, (m) => {
      if (m.value) records.push({ value: m.value.toString('utf8'), key: m.key });
    });
    return readLetters(records);
  };
  return {
    letters: () => {
      if (!last || now() - last.at >= KAFKA_READ_REUSE_MS) {
        const reading = { at: now(), letters: read() };
        reading.letters.catch(() => last === reading && (last = null)); // a failed read is not reused
        last = reading;
      }
      return last.letters;
    },
    redrive: async (topic, messages) => void (await bus.produce(topic, messages)),
    mark: async (markers) => {
      await bus.produce(dlqTopic, markers);
      last = null;
    },
  };
}

/** A letter as the console and `GET /api/dlq` show it (the message itself only in `GET /api/dlq/:id`). */
function summary(letter: StoredLetter): Omit<StoredLetter, 'value_base64'> {
  const { value_base64: _value, ...rest } = letter;
  return rest;
}

export interface RedriveResult {
  redriven: string[];
  refused: Array<{ id: string; why: string }>;
  dry_run: boolean;
}

/**
 * Redrives letters (CONTRACT section 1): each selected, untruncated letter's message goes back to
 * the stage that dead-lettered it (header `mistbridge-redrive`), then a marker is appended for it.
 * Shared by `POST /api/dlq/redrive` (embedded) and the Kafka CLI.
 */
export async function redriveLetters(
  letters: readonly StoredLetter[],
  selection: { ids?: string[]; stage?: string; reason?: string; destinations?: string[]; dryRun?: boolean },
  topics: Topics,
  put: (topic: string, messages: OutgoingMessage[]) => Promise<void>,
  mark: (markers: OutgoingMessage[]) => Promise<void>,
  now: number,
): Promise<RedriveResult> {
  const chosen = select(letters, selection);
  const result: RedriveResult = { redriven: [], refused: [], dry_run: selection.dryRun ?? false };
  for (const id of selection.ids ?? []) if (!letters.some((l) => l.id === id)) result.refused.push({ id, why: `no letter ${id}` });
  const byTopic = new Map<string, Array<{ id: string; message: OutgoingMessage }>>();
  for (const letter of chosen) {
    const plan = redrivePlan(letter, topics, selection.destinations);
    if ('refused' in plan) result.refused.push({ id: letter.id, why: plan.refused });
    else for (const { topic, message } of plan) byTopic.set(topic, [...(byTopic.get(topic) ?? []), { id: letter.id, message }]);
  }
  for (const [topic, planned] of byTopic) {
    // The marker after the message is durable: a redrive that failed half-way is done again, never lost.
    if (!result.dry_run) {
      await put(topic, planned.map((p) => p.message));
      await mark([...new Set(planned.map((p) => p.id))].map((id) => marker(id, now)));
    }
    result.redriven.push(...new Set(planned.map((p) => p.id)));
  }
  return result;
}

/** The letters purge keeps: those dead-lettered at or after `before` (0.1 letters have no time: they go), and their markers. */
export function keepAfter(lines: string[], before: number): string[] {
  const letters = new Map(readLetters(lines.map((value) => ({ value }))).map((l) => [l.id, l]));
  return lines.filter((line) => {
    try {
      const parsed = JSON.parse(line) as { redriven?: string; stage?: string };
      if (typeof parsed.redriven === 'string') return (letters.get(parsed.redriven)?.dead_lettered_at ?? 0) >= before;
      const [letter] = readLetters([{ value: line }]);
      return letter !== undefined && (letter.dead_lettered_at ?? 0) >= before;
    } catch {
      return false;
    }
  });
}

/**
 * `GET /api/dlq` (paged like incidents, newest first; `stage`, `reason`, `all`), `GET /api/dlq/:id`,
 * `POST /api/dlq/redrive` and (embedded) `POST /api/dlq/purge` (CONTRACT section 3).
 */
export function dlqApi(access: DlqAccess, topics: Topics, now: () => number): Router {
  const router = Router();
  const pager = new Pager(now);
  router.use(express.json({ limit: '1mb' }));
  router.get('/dlq', async (req, res, next) => {
    try {
      const { stage, reason, all } = req.query;
      const letters = select(await access.letters(), { stage: typeof stage === 'string' ? stage : undefined, reason: typeof reason === 'string' ? reason : undefined, all: all === 'true' });
      const byId = new Map(letters.map((l) => [l.id, l]));
      pager.send(
        req,
        res,
        () => [...letters].sort((a, b) => (b.dead_lettered_at ?? 0) - (a.dead_lettered_at ?? 0) || a.id.localeCompare(b.id)).map((l) => l.id),
        (id) => {
          const letter = byId.get(id);
          return letter && summary(letter);
        },
      );
    } catch (err) {
      next(err);
    }
  });
  router.get('/dlq/:id', async (req, res, next) => {
    try {
      const letter = (await access.letters()).find((l) => l.id === req.params.id);
      if (letter) res.json(letter);
      else res.status(404).json({ error: `no dead letter ${req.params.id}` });
    } catch (err) {
      next(err);
    }
  });
  router.post('/dlq/redrive', async (req, res, next) => {
    try {
      const body = (req.body ?? {}) as { ids?: unknown; stage?: unknown; reason?: unknown; destinations?: unknown; dry_run?: unknown };
      const ids = Array.isArray(body.ids) ? body.ids.filter((i): i is string => typeof i === 'string') : undefined;
      const destinations = Array.isArray(body.destinations) ? body.destinations.filter((d): d is string => typeof d === 'string') : undefined;
      const stage = typeof body.stage === 'string' ? body.stage : undefined;
      if (!ids?.length && !stage) {
        res.status(400).json({ error: 'name letter ids, or a stage' });
        return;
      }
      const reason = typeof body.reason === 'string' ? body.reason : undefined;
      res.json(await redriveLetters(await access.letters(), { ids, stage, reason, destinations, dryRun: body.dry_run === true }, topics, access.redrive, access.mark, now()));
    } catch (err) {
      next(err);
    }
  });
  router.post('/dlq/purge', async (req, res, next) => {
    try {
      if (!access.purge) {
        res.status(400).json({ error: 'the DLQ topic keeps letters for its retention.ms; purge applies to the embedded DLQ' });
        return;
      }
      const before = Number((req.body as { before?: unknown } | undefined)?.before);
      if (!Number.isFinite(before)) {
        res.status(400).json({ error: 'before must be epoch milliseconds' });
        return;
      }
      res.json(await access.purge(before));
    } catch (err) {
      next(err);
    }
  });
  return router;
}
