import { Router } from 'express';
import { publicIncident, type Incident } from '../domain/incident';
import type { InventoryDevice } from '../domain/inventory';
import { Pager } from '../http/paging';

const STATES = new Set(['open', 'resolved']);
const KINDS = new Set(['device', 'marvis', 'security']);
const DEVICE_STATES = new Set(['down', 'up']);

/** What the API reads: the full incident view (all partitions), and names seen in events. */
export interface IncidentView {
  incidents(): Iterable<Incident>;
  incident(key: string): Incident | undefined;
  deviceName(mac: string): string | null;
  /** The Mist API companion's devices (empty without it). */
  inventory(): Iterable<InventoryDevice>;
}

/** One device of `/api/devices` (CONTRACT section 3). */
export interface DeviceRecord {
  device_mac: string;
  device_type: string | null;
  device_name: string | null;
  site_id: string | null;
  site_name: string | null;
  model: string | null;
  up: boolean;
  since: number | null;
}

/**
 * GET /api/incidents, /api/incidents/:incident_id and /api/devices (CONTRACT section 3), served
 * from the full incident view and paged.
 */
export function incidentsApi(view: IncidentView, now: () => number = Date.now): Router {
  const router = Router();
  const pager = new Pager(now);

  router.get('/incidents', (req, res) => {
    const { state, site_id: siteId, kind } = req.query;
    if (state !== undefined && (typeof state !== 'string' || !STATES.has(state))) {
      res.status(400).json({ error: 'state must be open or resolved' });
      return;
    }
    if (kind !== undefined && (typeof kind !== 'string' || !KINDS.has(kind))) {
      res.status(400).json({ error: 'kind must be device, marvis or security' });
      return;
    }
    pager.send(
      req,
      res,
      () =>
        [...view.incidents()]
          .filter((i) => (state === undefined || i.state === state) && (siteId === undefined || i.site_id === siteId) && (kind === undefined || i.kind === kind))
          .sort((a, b) => b.updated_at - a.updated_at || a.key.localeCompare(b.key))
          .map((i) => i.key),
      (key) => {
        const incident = view.incident(key);
        return incident && publicIncident(incident);
      },
    );
  });

  router.get('/incidents/:id', (req, res) => {
    for (const incident of view.incidents()) {
      if (incident.incident_id === req.params.id) {
        res.json(publicIncident(incident));
        return;
      }
    }
    res.status(404).json({ error: `no incident ${req.params.id}` });
  });

  router.get('/devices', (req, res) => {
    const { state, site_id: siteId } = req.query;
    if (state !== undefined && (typeof state !== 'string' || !DEVICE_STATES.has(state))) {
      res.status(400).json({ error: 'state must be down or up' });
      return;
    }
    // Devices known from incidents and from the inventory (CONTRACT section 3); the newer state wins.
    const inventoried = new Map([...view.inventory()].map((d) => [`device:${d.org_id}:${d.mac}`, d]));
    const deviceOf = (key: string): DeviceRecord | undefined => {
      const incident = view.incident(key);
      const device = inventoried.get(key);
      const fromIncident = incident?.kind === 'device' && incident.entities[0] && (!device?.status_at || incident.updated_at >= device.status_at);
      if (fromIncident) {
        const mac = incident.entities[0]!;
        return {
          device_mac: mac,
          device_type: incident.device_type ?? device?.type ?? null,
          device_name: view.deviceName(mac),
          site_id: incident.site_id,
          site_name: incident.site_name ?? device?.site_name ?? null,
          model: device?.model ?? null,
          up: incident.state === 'resolved',
          since: incident.state === 'open' ? incident.opened_at : incident.resolved_at,
        };
      }
      if (!device) return undefined;
      return {
        device_mac: device.mac,
        device_type: device.type,
        device_name: device.name,
        site_id: device.site_id,
        site_name: device.site_name,
        model: device.model,
        up: device.status !== 'disconnected',
        since: device.status_at,
      };
    };
    pager.send(
      req,
      res,
      () =>
        [...new Set([...[...view.incidents()].filter((i) => i.kind === 'device').map((i) => i.key), ...inventoried.keys()])]
          .map((key) => [key, deviceOf(key)] as const)
          .filter((e): e is readonly [string, DeviceRecord] => e[1] !== undefined && (state === undefined || e[1].up === (state === 'up')) && (siteId === undefined || e[1].site_id === siteId))
          // Down first, the longest down first; then the most recently recovered.
          .sort(([, a], [, b]) => Number(a.up) - Number(b.up) || (a.up ? (b.since ?? 0) - (a.since ?? 0) : (a.since ?? 0) - (b.since ?? 0)) || a.device_mac.localeCompare(b.device_mac))
          .map(([key]) => key),
      deviceOf,
    );
  });
  return router;
}
