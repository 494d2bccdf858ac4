import type { InventoryNames } from '../domain/inventory';
import type { MistEvent } from '../domain/mist-event';

/**
 * CONTRACT section 8: names from the Mist API companion's inventory where an event carries a MAC
 * or a site id but no name (the event's own values win), and `attributes.source = api` for what
 * back-fill re-injected (header `source`), and the org of a tenant path (CONTRACT section 3). After the event id was computed: names are not identity.
 */
export function enrich(event: MistEvent, names: InventoryNames, source: string | undefined, tenantOrg?: string): MistEvent {
  // An event without an org (location, zone, occupancy, ping) received on a tenant path is that org's (header tenant_org_id).
  if (tenantOrg && event.org_id === null) event = { ...event, org_id: tenantOrg };
  const device = event.device_mac ? names.device(event.device_mac) : undefined;
  const siteName = event.site_name ?? (event.site_id ? (names.siteName(event.site_id) ?? null) : null) ?? device?.site_name ?? null;
  const deviceName = event.device_name ?? device?.name ?? null;
  const unnamed = event.devices.some((d) => d.name === null && names.device(d.mac)?.name);
  if (siteName === event.site_name && deviceName === event.device_name && !unnamed && source !== 'api') return event;
  return {
    ...event,
    site_name: siteName,
    device_name: deviceName,
    devices: unnamed ? event.devices.map((d) => (d.name === null ? { ...d, name: names.device(d.mac)?.name ?? null } : d)) : event.devices,
    attributes: source === 'api' ? { ...event.attributes, source: 'api' } : event.attributes,
  };
}
