import type { Incident } from '../../domain/incident';
import type { Metrics } from '../../shared/metrics';
import type { DeviceUp } from './device-state';

type Family = NonNullable<Metrics['events']>;

/** What the gauges need of an incident: holding whole incidents cost about a kilobyte each. */
type Tracked = Pick<Incident, 'incident_id' | 'version' | 'state' | 'kind' | 'severity' | 'updated_at'> & { device: DeviceLabels | null };
type DeviceLabels = { device_mac: string; device_type: string; site_id: string };

/**
 * Follows the incident stream into `mistbridge_incidents_open`, `mistbridge_incidents_total` and
 * `mistbridge_device_up`. Versions only grow per incident, so a redelivered or older write changes nothing.
 */
export class IncidentGauges {
  readonly #latest = new Map<string, Tracked>();

  constructor(
    private readonly family: Family,
    private readonly devices: DeviceUp,
  ) {}

  /** `countTransitions` is false while loading the state that existed before this process started. */
  apply(key: string, incident: Incident | null, countTransitions: boolean): void {
    const previous = this.#latest.get(key);
    if (incident === null) {
      if (!previous) return;
      this.#latest.delete(key);
      this.#untrack(previous);
      if (previous.device) this.devices.remove(previous.device.device_mac);
      return;
    }
    // Within one incident (a key forgotten, its tombstone unread, starts its next incident at version 1).
    if (previous && previous.incident_id === incident.incident_id && previous.version >= incident.version) return;
    if (previous) this.#untrack(previous);
    const { incident_id, version, state, kind, severity } = incident;
    // Versions of a key come in order: a later one is as recent as the one before it, even when its
    // events are stamped earlier (a new incident opened by a late down event after a resolution).
    const updated_at = Math.max(incident.updated_at, previous?.updated_at ?? 0);
    const device = kind === 'device' && incident.entities[0] ? deviceLabels(incident) : null;
    this.#latest.set(key, { incident_id, version, state, kind, severity, updated_at, device });
    if (state === 'open') this.family.incidentsOpen.inc({ kind, severity });
    if (device) this.devices.set(device, state !== 'open', updated_at);
    if (!countTransitions) return;
    const newIncident = previous?.incident_id !== incident_id;
    if (newIncident) this.family.incidentsTotal.inc({ kind, transition: 'opened' });
    if (state === 'resolved' && (newIncident || previous?.state === 'open')) this.family.incidentsTotal.inc({ kind, transition: 'resolved' });
  }

  /** Forgets everything (a new partition assignment brings its own state). */
  reset(): void {
    for (const key of [...this.#latest.keys()]) this.apply(key, null, false);
  }

  #untrack(incident: Tracked): void {
    if (incident.state === 'open') this.family.incidentsOpen.dec({ kind: incident.kind, severity: incident.severity });
  }
}

function deviceLabels(incident: Incident): DeviceLabels {
  return { device_mac: incident.entities[0]!, device_type: incident.device_type ?? 'unknown', site_id: incident.site_id ?? '' };
}
