import { Projection } from '../bus/projection';
import type { Incident, Recovery } from '../domain/incident';
import type { CorrelatorView } from './reducer';

/**
 * The correlator's state: open and remembered incidents and recoveries of the assigned partitions,
 * owned by a Projection (rebuild, batches and the sweep serialized and fenced by generation).
 */
export class IncidentState extends Projection implements CorrelatorView {
  readonly incidents = new Map<string, Incident>();
  readonly recoveries = new Map<string, Recovery>();
  /** The version last published (to Splunk and notify) per key, and when (the correlator's clock). */
  readonly published = new Map<string, { incident: Incident; at: number }>();
  /** Keys whose latest version was written quiet: published later by the flush. */
  readonly pending = new Set<string>();

  constructor() {
    super(() => {
      this.incidents.clear();
      this.recoveries.clear();
      this.published.clear();
      this.pending.clear();
    });
  }

  incident(key: string): Incident | undefined {
    return this.incidents.get(key);
  }

  recovery(key: string): Recovery | undefined {
    return this.recoveries.get(key);
  }

  /** Writes that the bus made durable become state. */
  commit(incidents: Iterable<Incident>, recoveries: Iterable<Recovery>, tombstones: Iterable<string> = [], forgotten: Iterable<string> = []): void {
    for (const incident of incidents) this.incidents.set(incident.key, incident);
    for (const recovery of recoveries) this.recoveries.set(recovery.key, recovery);
    for (const key of tombstones) this.incidents.delete(key);
    for (const key of forgotten) this.recoveries.delete(key);
  }
}
