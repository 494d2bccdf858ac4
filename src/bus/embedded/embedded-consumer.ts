import { randomUUID } from 'node:crypto';
import type { Logger } from '../../shared/logger';
import { chunks, fitting } from '../../shared/chunks';
import type { BatchContext, BusMessage, ConsumeOptions, Consumer } from '../bus';
import { AssignmentGate, CommitQueue, batchDue, chunkRunner } from '../consumer-core';
import type { TopicLog } from './topic-log';

/** What a consumer needs of the embedded bus. */
export interface ConsumerHost {
  log(topic: string): TopicLog<EmbeddedConsumer>;
  /** Where the consumer starts in `topic`: what precedes the log for it (compacted topics), and its log position. */
  startOf(consumer: EmbeddedConsumer, topic: string): { catchUp: BusMessage[]; position: number };
  /** How many messages from `position` the group may take at once. */
  batchLimit(topic: string, group: string, position: number, limit: number): number;
  /** Called once the group's messages below `position` in the topic's log are done. */
  committed(group: string, topic: string, position: number, ephemeral: boolean): void;
  /** The group starts working on `messages` (null: it finished, or let go). */
  working(topic: string, group: string, messages: BusMessage[] | null): void;
  /** Called once a compacted topic's records below sequence number `next` (a catch-up; Infinity: all of it, up to the log) are done. */
  caughtUp(group: string, topic: string, next: number): void;
  /** A handler's context: derived messages inherit the oldest root of the batch. */
  contextFor(root: number, signal: AbortSignal, generation: number): Omit<BatchContext, 'defer'>;
  forget(consumer: EmbeddedConsumer): void;
}

type Done = { topic: string; position: number } | { topic: string; seq: number };

/**
 * One group's consume loop on the embedded bus: one partition per topic, topics taking turns,
 * batches by the consumer core's rule (full, or the oldest waited its linger), and the commit
 * only after the chunk runner saw the handler through and its deferred effects are done. The
 * read position runs ahead of the committed one while effects are outstanding.
 */
export class EmbeddedConsumer implements Consumer {
  readonly group: string;
  readonly ephemeral: boolean;
  /** Read positions in each topic's log. */
  readonly positions = new Map<string, number>();
  /** Committed positions: what the journal and the log may forget. */
  readonly #committed = new Map<string, number>();
  readonly #abort = new AbortController();
  readonly #gate = new AssignmentGate();
  #commits: CommitQueue<Done>;
  #loop: Promise<void> | null = null;
  #running = true;
  /** Aborted when an effect failed: the assignment is rebuilt from the last commit before anything else is read. */
  #rewind = new AbortController();
  /** Where the next batch is looked for first: topics take turns, so a busy one cannot starve another. */
  #turn = 0;

  constructor(
    private readonly host: ConsumerHost,
    private readonly options: ConsumeOptions,
    private readonly logger: Logger,
  ) {
    this.ephemeral = options.ephemeral ?? false;
    this.group = this.ephemeral ? `${options.group}-${randomUUID()}` : options.group;
    this.#commits = this.#newCommits();
  }

  #newCommits(): CommitQueue<Done> {
    return new CommitQueue<Done>(
      (done) => {
        if ('seq' in done) {
          if (!this.ephemeral) this.host.caughtUp(this.group, done.topic, done.seq);
          return;
        }
        this.#committed.set(done.topic, done.position);
        this.host.committed(this.group, done.topic, done.position, this.ephemeral);
      },
      (err) => {
        if (!this.#running) return; // stopped: the next start re-reads from the last commit anyway
        this.logger.error('a batch effect failed; the group re-reads from its last commit', { group: this.group, error: err.message });
        this.#rewind.abort();
      },
    );
  }

  committedOf(topic: string): number {
    return this.#committed.get(topic) ?? this.positions.get(topic) ?? 0;
  }

  /** The committed log position in `topic`, once placed there. */
  committedPosition(topic: string): number | undefined {
    return this.#committed.get(topic);
  }

  get fromEnd(): boolean {
    return this.options.fromEnd ?? false;
  }

  /** Reads and commits from `position` on (the raw topic, once the journal says where it starts). */
  moveTo(topic: string, position: number): void {
    this.positions.set(topic, position);
    this.#committed.set(topic, position);
  }

  ready(): boolean {
    return this.#running && this.#gate.ready();
  }

  assigned(): number | null {
    return this.ready() ? this.#gate.generation : null;
  }

  /** Joins: positions from the bus, the state rebuild (onAssign), then the loop. */
  async start(): Promise<void> {
    const catchUp = this.#place();
    await this.#assign();
    this.#loop = this.#runLoop(catchUp);
  }

  /** Read and committed positions from the bus; returns the catch-up of each compacted topic. */
  #place(): Map<string, BusMessage[]> {
    const catchUp = new Map<string, BusMessage[]>();
    for (const topic of this.options.topics) {
      const start = this.host.startOf(this, topic);
      this.positions.set(topic, start.position);
      this.#committed.set(topic, start.position);
      if (start.catchUp.length > 0) catchUp.set(topic, start.catchUp);
    }
    return catchUp;
  }

  async #assign(): Promise<void> {
    let failure: Error | null = null;
    await this.#gate.assign(
      (generation) => this.options.onAssign?.(this.options.topics.map((topic) => ({ topic, partitions: [0] })), generation),
      (err) => (failure = err),
    );
    if (failure) throw failure;
  }

  async #runLoop(firstCatchUp: Map<string, BusMessage[]>): Promise<void> {
    const runner = chunkRunner({ group: this.group, handler: this.options.handler, logger: this.logger, stage: this.options.stage, destination: this.options.destination, onRedriven: this.options.onRedriven });
    let catchUp = firstCatchUp;
    while (this.#running) {
      const signal = AbortSignal.any([this.#abort.signal, this.#gate.signal, this.#rewind.signal]);
      const context = (root: number) => this.host.contextFor(root, signal, this.#gate.generation);
      const stillOwner = (): boolean => !signal.aborted;
      for (const [topic, messages] of catchUp) {
        const all = chunks(messages, (m) => m.value?.length ?? 0, this.options.maxBatch ?? 500, this.options.maxBatchBytes);
        for (const [i, chunk] of all.entries()) {
          const effects = await runner.run(chunk, context(Number.MAX_SAFE_INTEGER), { topic, partition: 0, stillOwner });
          if (!effects) break;
          // The last chunk commits up to the log (records in between were superseded or tombstoned).
          await this.#commits.add({ topic, seq: i === all.length - 1 ? Infinity : Number(chunk[chunk.length - 1]!.offset) + 1 }, effects);
        }
      }
      while (!signal.aborted) {
        const next = await this.#nextBatch(signal);
        if (!next) continue;
        const { topic, messages, end, root } = next;
        this.host.working(topic, this.options.group, messages);
        const effects = await runner.run(messages, context(root), { topic, partition: 0, stillOwner });
        if (!effects) {
          this.host.working(topic, this.options.group, null);
          break;
        }
        this.positions.set(topic, end);
        await this.#commits.add({ topic, position: end }, effects);
        this.host.working(topic, this.options.group, null);
        // Batches that need no I/O must not keep timers and sockets waiting behind an endless run of them.
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      if (!this.#running) return;
      // An effect failed: its batches (and those after) are read again, against rebuilt state.
      await this.#commits.drained();
      this.#commits = this.#newCommits();
      this.#rewind = new AbortController();
      catchUp = this.#place();
      try {
        await this.#assign();
      } catch (err) {
        this.logger.error('state rebuild failed; the group stops until the process restarts', { group: this.group, error: (err as Error).message });
        return;
      }
    }
  }

  async #nextBatch(signal: AbortSignal): Promise<{ topic: string; messages: BusMessage[]; end: number; root: number } | null> {
    const topics = this.options.topics;
    const maxBatch = this.options.maxBatch ?? 500;
    for (let i = 0; i < topics.length; i++) {
      const topic = topics[(this.#turn + i) % topics.length]!;
      const log = this.host.log(topic);
      const position = this.positions.get(topic)!;
      if (log.end <= position) continue;
      this.#turn = (this.#turn + i + 1) % topics.length;
      const limit = this.host.batchLimit(topic, this.options.group, position, maxBatch);
      const due = batchDue({ count: log.end - position, bytes: 0, oldestAt: log.at(position)?.appendedAt }, performance.now(), { maxBatch: limit, lingerMs: this.options.lingerMs });
      if (!due.due) await this.#wait([topic], due.waitMs, () => log.end - position >= limit, signal);
      if (signal.aborted) return null;
      const count = fitting((k) => log.at(position + k)?.bytes, limit, this.options.maxBatchBytes);
      const messages: BusMessage[] = [];
      let root = Number.MAX_SAFE_INTEGER;
      for (let offset = position; offset < position + count; offset++) {
        const entry = log.at(offset)!;
        root = Math.min(root, entry.root);
        if (entry.dropped) continue;
        // Raw entries carry their journal offset, compacted ones their sequence number: what messages and letters name.
        messages.push({ topic, partition: 0, offset: String(entry.offset ?? entry.seq ?? offset), key: entry.key, value: entry.value ?? entry.load?.() ?? null, headers: entry.headers });
      }
      return { topic, messages, end: position + count, root };
    }
    await this.#wait(topics, 0, () => false, signal);
    return null;
  }

  /** Waits for new messages on `topics` (or `timeoutMs`, when > 0) or until stopped. */
  #wait(topics: string[], timeoutMs: number, done: () => boolean, signal: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const logs = topics.map((t) => this.host.log(t));
      let timer: NodeJS.Timeout | undefined;
      const finish = (): void => {
        if (timer) clearTimeout(timer);
        for (const log of logs) log.waiters.delete(wake);
        signal.removeEventListener('abort', finish);
        resolve();
      };
      const wake = (): void => {
        if (timeoutMs === 0 || done()) finish();
        else for (const log of logs) log.waiters.add(wake);
      };
      for (const log of logs) log.waiters.add(wake);
      if (timeoutMs > 0) timer = setTimeout(finish, timeoutMs);
      signal.addEventListener('abort', finish, { once: true });
    });
  }

  /** Lets go at once: the batch in hand stays uncommitted. */
  abort(): void {
    this.#running = false;
    this.#abort.abort();
  }

  async stop(): Promise<void> {
    this.abort();
    await this.#loop;
    // Effects already under way (a notification being sent) still commit when they are done.
    await this.#commits.drained();
    this.host.forget(this);
  }
}
