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

  constructor(private readonly gauge: Gauge) {}

  observe(event: Pick<MistEvent, 'device_mac' | 'device_type' | 'device_name' | 'site_id' | 'site_name' | 'attributes'>): void {
    if (!event.device_mac) return;
    const before = this.#known.get(event.device_mac);
    const next: Labels = {
      device_mac: event.device_mac,
      device_type: event.device_type ?? before?.device_type ?? '',
      device_name: event.device_name ?? before?.device_name ?? '',
      model: event.attributes.model ?? before?.model ?? '',
      site_id: event.site_id ?? before?.site_id ?? '',
      site_name: event.site_name ?? before?.site_name ?? '',
    };
    if (before && Object.entries(next).every(([k, v]) => before[k as keyof Labels] === v)) return;
    if (before) this.gauge.remove(before);
    this.gauge.set(next, 1);
    this.#known.set(event.device_mac, next);
  }
}
