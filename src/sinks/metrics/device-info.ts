import type { InventoryDevice } from '../../domain/inventory';
import type { MistEvent } from '../../domain/mist-event';
import type { Metrics } from '../../shared/metrics';

type Gauge = NonNullable<Metrics['events']>['deviceInfo'];
type Labels = { device_mac: string; device_type: string; device_name: string; model: string; site_id: string; site_name: string };

/**
 * `mistbridge_device_info`: one series per device (the info-metric pattern, joined on
 * `device_mac`), from what events carry. A value an event leaves out keeps the one known before;
 * a changed label replaces the series, never adds a second one.
 */
export class DeviceInfo {
  readonly #known = new Map<string, Labels>();
  /** What the Mist API inventory says: its values win over what events carry. */
  readonly #inventory = new Map<string, Partial<Labels>>();
  /** Devices some event named (their series stay when the inventory's partition moves away). */
  readonly #observed = new Set<string>();

  constructor(private readonly gauge: Gauge) {}

  observe(event: Pick<MistEvent, 'device_mac' | 'device_type' | 'device_name' | 'site_id' | 'site_name' | 'attributes'>): void {
    if (!event.device_mac) return;
    this.#observed.add(event.device_mac);
    this.#update(event.device_mac, {
      device_type: event.device_type ?? undefined,
      device_name: event.device_name ?? undefined,
      model: event.attributes.model,
      site_id: event.site_id ?? undefined,
      site_name: event.site_name ?? undefined,
    });
  }

  fromInventory(device: InventoryDevice): void {
    const values = { device_type: device.type ?? undefined, device_name: device.name ?? undefined, model: device.model ?? undefined, site_id: device.site_id ?? undefined, site_name: device.site_name ?? undefined };
    this.#inventory.set(device.mac, values);
    this.#update(device.mac, values);
  }

  /** Forgets the inventory (a new assignment loads its partitions'): devices only it named lose their series. */
  resetInventory(): void {
    for (const mac of this.#inventory.keys()) {
      const known = this.#known.get(mac);
      if (known && !this.#observed.has(mac)) {
        this.gauge.remove(known);
        this.#known.delete(mac);
      }
    }
    this.#inventory.clear();
  }

  #update(mac: string, values: Partial<Omit<Labels, 'device_mac'>>): void {
    const before = this.#known.get(mac);
    const inventory = this.#inventory.get(mac) ?? {};
    const pick = (k: keyof Omit<Labels, 'device_mac'>): string => inventory[k] ?? values[k] ?? before?.[k] ?? '';
    const next: Labels = { device_mac: mac, device_type: pick('device_type'), device_name: pick('device_name'), model: pick('model'), site_id: pick('site_id'), site_name: pick('site_name') };
    if (before && Object.entries(next).every(([k, v]) => before[k as keyof Labels] === v)) return;
    if (before) this.gauge.remove(before);
    this.gauge.set(next, 1);
    this.#known.set(mac, next);
  }
}
