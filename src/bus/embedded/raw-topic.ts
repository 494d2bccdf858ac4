import { join } from 'node:path';
import { deadLetter } from '../../dlq/dead-letter';
import type { Logger } from '../../shared/logger';
import type { BusMessage, OutgoingMessage } from '../bus';
import { withDeadline } from '../bus';
import type { DlqFile } from './dlq-file';
import { Journal, type JournalRecord, type JournalStart } from './journal';

export interface RawTopicOptions {
  dataDir: string;
  topic: string;
  /** Dead letters written by the bus itself (a quarantined webhook) are at most this large. */
  maxLetterBytes: number;
  logger: Logger;
  now: () => number;
  onQuarantine?: () => void;
  archive?: { maxAgeMs: number; maxBytes: number };
}

/**
 * The raw topic's produce path: webhooks are journaled (fsync, group commit) before a write
 * resolves; a write past its caller's deadline keeps the bus unwritable until the disk answers;
 * at start the journal says what to replay and which webhook killed the last runs (quarantined to
 * the DLQ), and which the normalizer must take one at a time.
 */
export class RawTopic {
  readonly journal: Journal;
  /** Raw writes whose caller's deadline passed before the journal answered. */
  #overdueWrites = 0;
  /** Raw records the normalizer takes one at a time (after a run died while normalizing). */
  #careful = { from: 0, until: 0 };

  constructor(
    private readonly options: RawTopicOptions,
    private readonly dlq: DlqFile,
  ) {
    this.journal = new Journal(join(options.dataDir, 'raw'), options.archive);
  }

  /** Opens the journal (throws what the file system said); returns the records to replay. */
  open(): JournalRecord[] {
    const start: JournalStart = this.journal.open();
    if (start.quarantine) this.#quarantine(start.quarantine);
    else if (start.deaths > 0)
      this.options.logger.warn('the last run died while normalizing; webhooks it held are normalized one at a time', { from: start.carefulFrom, until: start.carefulUntil, deaths: start.deaths });
    this.#careful = { from: start.carefulFrom, until: start.carefulUntil };
    if (start.replay.length > 0) this.options.logger.info('replaying journaled webhooks', { count: start.replay.length, from: start.replay[0]!.offset });
    return start.replay;
  }

  /** Whether the record at journal offset `root` is one a dead run held (normalized one at a time). */
  careful(root: number): boolean {
    return root >= this.#careful.from && root < this.#careful.until;
  }

  /** Why a write would be refused now, or null. */
  unwritable(): { reason: string; retryAfterS: number } | null {
    const error = this.journal.lastError;
    if (error) return { reason: `journal write failed: ${error.message}`, retryAfterS: 10 };
    if (this.#overdueWrites > 0) return { reason: 'a journal write is overdue (slow disk)', retryAfterS: 5 };
    return null;
  }

  /**
   * Resolves once the records are durable; `landed` gets them with their journal offsets and
   * locations as soon as they are, even when the caller's deadline passed first (a late write is
   * still processed).
   */
  write(messages: OutgoingMessage[], landed: (records: JournalRecord[]) => void, timeoutMs?: number): Promise<void> {
    const records = messages.map((m) => ({ key: m.key, headers: m.headers ?? {}, value: m.value ?? Buffer.alloc(0) }));
    const written = this.journal.append(records).then((done) => landed(records.map((record, i) => ({ key: record.key, headers: record.headers, ...done[i]! }))));
    if (timeoutMs === undefined) return written;
    // Until a write past its deadline lands, the disk is too slow to promise anything: the bus stays unwritable.
    return withDeadline(written, timeoutMs, () => {
      this.#overdueWrites++;
      const settled = (): void => void this.#overdueWrites--;
      written.then(settled, settled);
    });
  }

  /** A webhook that was being normalized when the process died twice goes to the DLQ instead of a third try. */
  #quarantine(record: JournalRecord): void {
    const value = this.journal.read(record.location);
    const source: BusMessage = { topic: this.options.topic, partition: 0, offset: String(record.offset), key: record.key, value, headers: record.headers };
    const letter = deadLetter('normalizer', 'crash_loop', 'the process died twice while this webhook was being normalized; quarantined so the rest can go on', source, {
      now: this.options.now(),
      maxValueBytes: this.options.maxLetterBytes,
    });
    this.dlq.appendSync(letter.value!.toString('utf8'));
    this.options.onQuarantine?.();
    this.options.logger.error('webhook quarantined to the DLQ (reason crash_loop): the process died twice while normalizing it', { offset: record.offset, bytes: value.length });
  }
}

