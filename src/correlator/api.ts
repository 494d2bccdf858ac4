import { Router } from 'express';
import { publicIncident, type Incident } from '../domain/incident';

const STATES = new Set(['open', 'resolved']);
const KINDS = new Set(['device', 'marvis', 'security']);

/** GET /api/incidents and /api/incidents/:incident_id (CONTRACT section 3), served from the full incident view. */
export function incidentsApi(view: () => Iterable<Incident>): Router {
  const router = Router();
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
    const selected = [...view()]
      .filter((i) => (state === undefined || i.state === state) && (siteId === undefined || i.site_id === siteId) && (kind === undefined || i.kind === kind))
      .sort((a, b) => b.updated_at - a.updated_at || a.key.localeCompare(b.key))
      .map(publicIncident);
    res.json(selected);
  });
  router.get('/incidents/:id', (req, res) => {
    for (const incident of view()) {
      if (incident.incident_id === req.params.id) {
        res.json(publicIncident(incident));
        return;
      }
    }
    res.status(404).json({ error: `no incident ${req.params.id}` });
  });
  return router;
}
