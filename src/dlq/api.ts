import express, { Router } from 'express';
import type { OutgoingMessage } from '../bus/bus';
import type { Topics } from '../bus/topics';
import { marker, readLetters, redrivePlan, select, type StoredLetter } from './letters';

/** What the embedded DLQ offers the running process's admin API. */
export interface DlqAccess {
  lines(): Promise<string[]>;
  /** Re-injects durably (the raw journal). */
  redrive(topic: string, messages: OutgoingMessage[]): Promise<void>;
  append(lines: string[]): Promise<void>;
  rewrite(keep: (lines: string[]) => string[]): Promise<{ before: number; after: number }>;
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

/** `POST /api/dlq/redrive` and `POST /api/dlq/purge` of an embedded process. */
export function dlqApi(access: DlqAccess, topics: Topics, now: () => number): Router {
  const router = Router();
  router.use(express.json({ limit: '1mb' }));
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
      const letters = readLetters((await access.lines()).map((value) => ({ value })));
      const reason = typeof body.reason === 'string' ? body.reason : undefined;
      const lines = (markers: OutgoingMessage[]): Promise<void> => access.append(markers.map((m) => m.value!.toString('utf8')));
      res.json(await redriveLetters(letters, { ids, stage, reason, destinations, dryRun: body.dry_run === true }, topics, (topic, messages) => access.redrive(topic, messages), lines, now()));
    } catch (err) {
      next(err);
    }
  });
  router.post('/dlq/purge', async (req, res, next) => {
    try {
      const before = Number((req.body as { before?: unknown } | undefined)?.before);
      if (!Number.isFinite(before)) {
        res.status(400).json({ error: 'before must be epoch milliseconds' });
        return;
      }
      const { before: had, after } = await access.rewrite((lines) => keepAfter(lines, before));
      res.json({ removed: had - after, kept: after });
    } catch (err) {
      next(err);
    }
  });
  return router;
}
