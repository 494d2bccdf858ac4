import { randomUUID } from 'node:crypto';
import type { Logger } from '../../shared/logger';
import { fitting } from '../../shared/chunks';
import type { BatchContext, BusMessage, ConsumeOptions, Consumer } from '../bus';
import { AssignmentGate, chunkRunner } from '../consumer-core';
import type { TopicLog } from './topic-log';

/** What a consumer needs of the embedded bus. */
export interface ConsumerHost {
  log(topic: string): TopicLog<EmbeddedConsumer>;
  /** How many messages from `position` the group may take at once. */
  batchLimit(topic: string, group: string, position: number, limit: number): number;
  /** Called after the handler resolved for everything below `position`. */
  committed(group: string, topic: string, position: number, ephemeral: boolean): void;
  /** A handler's context: derived messages inherit the oldest root of the batch. */
  contextFor(root: number, signal: AbortSignal, generation: number): BatchContext;
  forget(consumer: EmbeddedConsumer): void;
}

/**
 * One group's consume loop on the embedded bus: one partition per topic, topics taking turns,
 * batches bounded by count and bytes, a linger from the oldest waiting message, and the commit
 * (its position) only after the chunk runner saw the handler through.
 */
export class EmbeddedConsumer implements Consumer {
  readonly group: string;
  readonly ephemeral: boolean;
  readonly positions = new Map<string, number>();
  readonly #abort = new AbortController();
  readonly #gate = new AssignmentGate();
  #loop: Promise<void> | null = null;
  #running = true;
  /** Where the next batch is looked for first: topics take turns, so a busy one cannot starve another. */
  #turn = 0;

  constructor(
    private readonly host: ConsumerHost,
    private readonly options: ConsumeOptions,
    private readonly logger: Logger,
  ) {
    this.ephemeral = options.ephemeral ?? false;
    this.group = this.ephemeral ? `${options.group}-${randomUUID()}` : options.group;
  }

  committedOf(topic: string): number {
    return this.positions.get(topic) ?? 0;
  }

  ready(): boolean {
    return this.#running && this.#gate.ready();
  }

  assigned(): number | null {
    return this.ready() ? this.#gate.generation : null;
  }

  async start(initial: BusMessage[]): Promise<void> {
    let failure: Error | null = null;
    await this.#gate.assign(
      (generation) => this.options.onAssign?.(this.options.topics.map((topic) => ({ topic, partitions: [0] })), generation),
      (err) => (failure = err),
    );
    if (failure) throw failure;
    this.#loop = this.#runLoop(initial);
  }

  async #runLoop(initial: BusMessage[]): Promise<void> {
    const runner = chunkRunner({ group: this.group, handler: this.options.handler, logger: this.logger, signal: this.#abort.signal, stage: this.options.stage, onRedriven: this.options.onRedriven });
    const context = (root: number): BatchContext => this.host.contextFor(root, this.#abort.signal, this.#gate.generation);
    const stillOwner = (): boolean => this.#running;
    if (initial.length > 0 && !(await runner.run(initial, context(Number.MAX_SAFE_INTEGER), { topic: initial[0]!.topic, partition: 0, stillOwner }))) return;
    while (this.#running) {
      const next = await this.#nextBatch();
      if (!next) continue;
      const { topic, messages, end, root } = next;
      if (!(await runner.run(messages, context(root), { topic, partition: 0, stillOwner }))) break;
      this.positions.set(topic, end);
      this.host.committed(this.group, topic, end, this.ephemeral);
      // Batches that need no I/O must not keep timers and sockets waiting behind an endless run of them.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
  }

  async #nextBatch(): Promise<{ topic: string; messages: BusMessage[]; end: number; root: number } | null> {
    const topics = this.options.topics;
    const maxBatch = this.options.maxBatch ?? 500;
    const lingerMs = this.options.lingerMs ?? 0;
    for (let i = 0; i < topics.length; i++) {
      const topic = topics[(this.#turn + i) % topics.length]!;
      const log = this.host.log(topic);
      const position = this.positions.get(topic)!;
      if (log.end <= position) continue;
      this.#turn = (this.#turn + i + 1) % topics.length;
      const limit = this.host.batchLimit(topic, this.options.group, position, maxBatch);
      if (lingerMs > 0 && log.end - position < limit) {
        const waited = performance.now() - (log.at(position)?.appendedAt ?? performance.now());
        if (waited < lingerMs) await this.#wait([topic], lingerMs - waited, () => log.end - position >= limit);
      }
      if (!this.#running) return null;
      const count = fitting((k) => log.at(position + k)?.bytes, limit, this.options.maxBatchBytes);
      const messages: BusMessage[] = [];
      let root = Number.MAX_SAFE_INTEGER;
      for (let offset = position; offset < position + count; offset++) {
        const entry = log.at(offset)!;
        root = Math.min(root, entry.root);
        messages.push({ topic, partition: 0, offset: String(entry.offset ?? offset), key: entry.key, value: entry.value, headers: entry.headers });
      }
      return { topic, messages, end: position + count, root };
    }
    await this.#wait(topics, 0, () => false);
    return null;
  }

  /** Waits for new messages on `topics` (or `timeoutMs`, when > 0) or until stopped. */
  #wait(topics: string[], timeoutMs: number, done: () => boolean): Promise<void> {
    return new Promise((resolve) => {
      const logs = topics.map((t) => this.host.log(t));
      let timer: NodeJS.Timeout | undefined;
      const finish = (): void => {
        if (timer) clearTimeout(timer);
        for (const log of logs) log.waiters.delete(wake);
        this.#abort.signal.removeEventListener('abort', finish);
        resolve();
      };
      const wake = (): void => {
        if (timeoutMs === 0 || done()) finish();
        else for (const log of logs) log.waiters.add(wake);
      };
      for (const log of logs) log.waiters.add(wake);
      if (timeoutMs > 0) timer = setTimeout(finish, timeoutMs);
      this.#abort.signal.addEventListener('abort', finish, { once: true });
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
    this.host.forget(this);
  }
}
