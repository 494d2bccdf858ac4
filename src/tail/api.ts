import { Router } from 'express';
import { publicIncident } from '../domain/incident';
import { parseFilter, showsEvent, showsIncident } from './filter';
import type { TailHub } from './hub';
import type { MemoryAccount } from '../shared/memory-account';

/** Messages queued for one slow reader before the rest are dropped (a tail is a view, not a delivery). */
const MAX_PENDING_BYTES = 1024 * 1024;
/** Readers at once: each may hold MAX_PENDING_BYTES. */
const MAX_READERS = 16;

/**
 * `GET /api/tail` (CONTRACT section 1): server-sent events, `event: event` with the MistEvent or
 * `event: incident` with the Incident as `data:`, filtered by `topic`, `site`, `severity`,
 * `incidents`. A reader that cannot keep up loses messages (a `: dropped N` comment says how many);
 * it never holds the pipeline back.
 */
export function tailApi(hub: TailHub, options: { incidents: boolean; memory?: MemoryAccount }): Router {
  const router = Router();
  const readers = new Set<{ writableLength: number }>();
  // What readers have not taken yet is memory the process holds.
  options.memory?.source('tail', () => [...readers].reduce((n, r) => n + r.writableLength, 0));
  router.get('/tail', (req, res) => {
    const filter = parseFilter(req.query);
    if ('problem' in filter) {
      res.status(400).json({ error: filter.problem });
      return;
    }
    if (readers.size >= MAX_READERS) {
      res.status(503).set('retry-after', '10').json({ error: `${MAX_READERS} live readers already; try again later` });
      return;
    }
    const withRaw = req.query.raw === 'true';
    readers.add(res);
    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no' });
    res.write(`: tailing${filter.incidents && !options.incidents ? ' (this process runs no correlator: no incidents)' : ''}\n\n`);
    let dropped = 0;
    const send = (name: string, data: unknown): void => {
      if (res.writableLength > MAX_PENDING_BYTES) {
        dropped++;
        return;
      }
      if (dropped > 0) {
        res.write(`: dropped ${dropped}\n\n`);
        dropped = 0;
      }
      res.write(`event: ${name}\ndata: ${JSON.stringify(data)}\n\n`);
    };
    const unsubscribe = hub.subscribe(
      (item) => {
        if (item.kind === 'event' && showsEvent(filter, item.event)) {
          send('event', item.event);
          // `raw=true` (the console): the Mist event as received, when there is one (PRIVACY_MODE=off)
          if (withRaw && item.raw !== undefined) send('raw', { event_id: item.event.event_id, raw: item.raw });
        }
        else if (item.kind === 'incident' && showsIncident(filter, item.incident)) send('incident', publicIncident(item.incident));
      },
      () => res.end(),
    );
    // Proxies close idle streams: a comment now and then keeps it open.
    const keepAlive = setInterval(() => res.write(': keep-alive\n\n'), 15_000);
    keepAlive.unref();
    req.on('close', () => {
      clearInterval(keepAlive);
      unsubscribe();
      readers.delete(res);
    });
  });
  return router;
}
