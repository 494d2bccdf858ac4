/**
 * Mist's own catalogues (CONTRACT section 10, 0.3): `/api/v1/const/alarm_defs` and
 * `/api/v1/const/device_events`, fetched by the Mist API companion into `mist.inventory` under the
 * keys below, and read by the normalizer for a type its built-in tables lack. The built-in tables
 * stay the fallback order's first word; a YAML override always wins over both.
 */
export const CATALOGUE_KEYS = { alarmDefs: 'const:alarm_defs', deviceEvents: 'const:device_events' } as const;

export interface CatalogueAlarm {
  display?: string;
  group?: string;
  /** Mist's own severity word (`critical`, `warn`, `info`). */
  severity?: string;
}

export interface CatalogueDeviceEvent {
  display: string;
  description?: string;
}

/** Where a type's words came from, counted in mistbridge_catalogue_lookups_total{source}. */
export type CatalogueSource = 'builtin' | 'api' | 'none';

/** The catalogues as the companion last wrote them (a projection of the const:* inventory keys). */
export class ApiCatalogue {
  #alarms = new Map<string, CatalogueAlarm>();
  #deviceEvents = new Map<string, CatalogueDeviceEvent>();

  /** One inventory record: a const:* key replaces its catalogue (a tombstone empties it); others are not its business. */
  apply(key: string, value: Buffer | null): void {
    if (key !== CATALOGUE_KEYS.alarmDefs && key !== CATALOGUE_KEYS.deviceEvents) return;
    const entries = parseList(value);
    if (key === CATALOGUE_KEYS.alarmDefs) {
      this.#alarms = new Map(
        entries.map((e) => [String(e.key).toLowerCase(), { ...(typeof e.display === 'string' ? { display: e.display } : {}), ...(typeof e.group === 'string' ? { group: e.group.toLowerCase() } : {}), ...(typeof e.severity === 'string' ? { severity: e.severity.toLowerCase() } : {}) }]),
      );
    } else {
      this.#deviceEvents = new Map(
        entries.filter((e) => typeof e.display === 'string').map((e) => [String(e.key).toUpperCase(), { display: e.display as string, ...(typeof e.description === 'string' ? { description: e.description } : {}) }]),
      );
    }
  }

  alarm(type: string): CatalogueAlarm | undefined {
    return this.#alarms.get(type.toLowerCase());
  }

  deviceEvent(type: string): CatalogueDeviceEvent | undefined {
    return this.#deviceEvents.get(type.toUpperCase());
  }
}

/** What the companion writes: the list as Mist returned it, entries with a string `key` only. */
export function encodeCatalogue(list: unknown): Buffer {
  return Buffer.from(JSON.stringify(Array.isArray(list) ? list.filter((e) => e && typeof e === 'object' && typeof (e as { key?: unknown }).key === 'string').map(({ key, display, group, severity, description }: Record<string, unknown>) => ({ key, display, group, severity, description })) : []));
}

function parseList(value: Buffer | null): Array<Record<string, unknown>> {
  if (!value) return [];
  try {
    const parsed = JSON.parse(value.toString('utf8')) as unknown;
    return Array.isArray(parsed) ? parsed.filter((e): e is Record<string, unknown> => e !== null && typeof e === 'object' && typeof (e as { key?: unknown }).key === 'string') : [];
  } catch {
    return [];
  }
}
