import type { Metrics } from '../../shared/metrics';

type Gauge = NonNullable<Metrics['events']>['deviceUp'];
export type DeviceUpLabels = { device_mac: string; device_type: string; site_id: string };

/**
 * `mistbridge_device_up`: one series per device, from two sources in time order: device
 * incidents (webhooks, in event time) and the Mist API's status (at the time the API gives for
 * it). An older observation never overwrites a newer one; a changed label replaces the series.
 */
export class DeviceUp {
  readonly #known = new Map<string, { labels: DeviceUpLabels; at: number }>();
  /** Devices of the Mist API inventory keep their series when their incident is forgotten. */
  readonly #inventoried = new Set<string>();

  constructor(private readonly gauge: Gauge) {}

  set(labels: DeviceUpLabels, up: boolean, at: number, inventoried = false): void {
    if (inventoried) this.#inventoried.add(labels.device_mac);
    const before = this.#known.get(labels.device_mac);
    if (before && before.at > at) return;
    if (before && (before.labels.device_type !== labels.device_type || before.labels.site_id !== labels.site_id)) this.gauge.remove(before.labels);
    this.gauge.set(labels, up ? 1 : 0);
    this.#known.set(labels.device_mac, { labels, at });
  }

  /** Removes every series (a new assignment brings its own devices). */
  reset(): void {
    for (const { labels } of this.#known.values()) this.gauge.remove(labels);
    this.#known.clear();
    this.#inventoried.clear();
  }

  remove(mac: string, inventoryGone = false): void {
    if (inventoryGone) this.#inventoried.delete(mac);
    const before = this.#known.get(mac);
    if (!before || this.#inventoried.has(mac)) return;
    this.gauge.remove(before.labels);
    this.#known.delete(mac);
  }
}
