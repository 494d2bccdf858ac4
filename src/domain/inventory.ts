/**
 * CONTRACT sections 4 and 8: `mist.inventory` records (compacted), written by the mistapi role
 * and read by the normalizer (names), the correlator (reconciliation, /api/devices) and the
 * metrics role (device_info, device_up). Keys: `device:<org_id>:<mac>` (as device incidents) and
 * `site:<org_id>:<site_id>`. JSON: small, rare, read by humans with `kcat` too.
 */
export interface InventoryDevice {
  kind: 'device';
  org_id: string;
  mac: string;
  name: string | null;
  model: string | null;
  /** ap, switch, gateway, ... */
  type: string | null;
  site_id: string | null;
  site_name: string | null;
  /** From /stats/devices: `connected` or `disconnected`; null before the first status check. */
  status: 'connected' | 'disconnected' | null;
  /** When the status began, by the API's own clock (epoch ms): last_seen when disconnected, last_seen - uptime when connected. */
  status_at: number | null;
  /** Consecutive status checks that found it disconnected (reconciliation opens at 2). */
  disconnected_checks: number;
}

export interface InventorySite {
  kind: 'site';
  org_id: string;
  site_id: string;
  name: string | null;
}

export type InventoryRecord = InventoryDevice | InventorySite;

export const deviceKey = (orgId: string, mac: string): string => `device:${orgId}:${mac}`;
export const siteKey = (orgId: string, siteId: string): string => `site:${orgId}:${siteId}`;
export const inventoryKey = (record: InventoryRecord): string => (record.kind === 'device' ? deviceKey(record.org_id, record.mac) : siteKey(record.org_id, record.site_id));

export function encodeInventory(record: InventoryRecord): Buffer {
  return Buffer.from(JSON.stringify(record));
}

/** A record, or null for what is not one (a tombstone, a foreign value): readers skip it. */
export function decodeInventory(value: Buffer | null): InventoryRecord | null {
  if (!value) return null;
  try {
    const record = JSON.parse(value.toString('utf8')) as InventoryRecord;
    return record && (record.kind === 'device' || record.kind === 'site') ? record : null;
  } catch {
    return null;
  }
}

/** The names events lack, by device MAC and site id: what the normalizer fills in. */
export class InventoryNames {
  readonly #devices = new Map<string, InventoryDevice>();
  readonly #sites = new Map<string, string>();

  apply(key: string, value: Buffer | null): void {
    const record = decodeInventory(value);
    if (!record) {
      if (key.startsWith('device:')) this.#devices.delete(key.slice(key.lastIndexOf(':') + 1));
      else if (key.startsWith('site:')) this.#sites.delete(key.slice(key.lastIndexOf(':') + 1));
      return;
    }
    if (record.kind === 'device') this.#devices.set(record.mac, record);
    else if (record.name) this.#sites.set(record.site_id, record.name);
  }

  device(mac: string): InventoryDevice | undefined {
    return this.#devices.get(mac);
  }

  siteName(siteId: string): string | undefined {
    return this.#sites.get(siteId);
  }

  devices(): Iterable<InventoryDevice> {
    return this.#devices.values();
  }
}
