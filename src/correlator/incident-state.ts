import { LetGoError } from '../bus/consumer-core';
import type { Incident, Recovery } from '../domain/incident';
import { SerialQueue } from '../shared/serial';
import type { CorrelatorView } from './reducer';

/**
 * The one owner of incident state. Every mutation — the rebuild at an assignment, a batch of
 * events, the sweep — runs here one at a time, tagged with the assignment generation it belongs
 * to: a batch fetched under an older assignment is let go (it stays uncommitted for the partition's
 * owner), and a sweep never runs against state that is being rebuilt or belongs to another generation.
 */
export class IncidentState implements CorrelatorView {
  readonly incidents = new Map<string, Incident>();
  readonly recoveries = new Map<string, Recovery>();
  /** The generation whose state is loaded; null while a rebuild runs (or before the first). */
  #generation: number | null = null;
  readonly #queue = new SerialQueue();

  incident(key: string): Incident | undefined {
    return this.incidents.get(key);
  }

  recovery(key: string): Recovery | undefined {
    return this.recoveries.get(key);
  }

  get generation(): number | null {
    return this.#generation;
  }

  /** Clears the state and loads the new assignment's with `load`; a failed load leaves no generation loaded. */
  rebuild(generation: number, load: (state: IncidentState) => Promise<void>): Promise<void> {
    return this.#queue.run(async () => {
      this.#generation = null;
      this.incidents.clear();
      this.recoveries.clear();
      await load(this);
      this.#generation = generation;
    });
  }

  /** Runs `work` on the state of `generation`; throws LetGoError when another generation's state is loaded. */
  apply<T>(generation: number, work: () => Promise<T>): Promise<T> {
    return this.#queue.run(async () => {
      if (this.#generation !== generation) throw new LetGoError(`incident state is generation ${this.#generation}, the batch ${generation}`);
      return work();
    });
  }

  /** Runs `work` only if the state of `generation` is loaded (a sweep skips a rebuild in progress). */
  ifCurrent(generation: number | null, work: () => Promise<void>): Promise<void> {
    return this.#queue.run(async () => {
      if (generation !== null && this.#generation === generation) await work();
    });
  }

  /** Writes that the bus made durable become state. */
  commit(incidents: Iterable<Incident>, recoveries: Iterable<Recovery>, tombstones: Iterable<string> = [], forgotten: Iterable<string> = []): void {
    for (const incident of incidents) this.incidents.set(incident.key, incident);
    for (const recovery of recoveries) this.recoveries.set(recovery.key, recovery);
    for (const key of tombstones) this.incidents.delete(key);
    for (const key of forgotten) this.recoveries.delete(key);
  }

  /** Resolves once everything queued so far ran. */
  idle(): Promise<void> {
    return this.#queue.idle();
  }
}
