import { reconcile } from '../../../src/correlator/reducer';
import type { Incident } from '../../../src/domain/incident';
import type { InventoryDevice } from '../../../src/domain/inventory';
import { Delivered, newBodies, passWindow } from '../../../src/mistapi/backfill';
import { RequestBudget } from '../../../src/mistapi/budget';
import { alarmAsWebhook, deviceEventAsWebhook, identityOf, inventoryRecords, statusOf } from '../../../src/mistapi/shapes';
import { normalizeEvent } from '../../../src/normalizer/normalize';
import { OPENAPI_EXAMPLES } from '../../helpers/fake-mist-api';
import { sampleJson } from '../../helpers/fixtures';

type Json = Record<string, unknown>;
const rules = { map: {}, overrides: {} };

describe('REST shapes in webhook shape (CONTRACT section 8)', () => {
  it.each(['alarms__device-down-alarmdef.json', 'alarms__marvis-ap-bad-cable-resolved-real-2025.json', 'alarms__switch-down-alarmdef.json'])('%s from /alarms/search normalizes to the event its webhook gives', (file) => {
    const webhook = sampleJson(file).events[0]! as Json;
    const details = webhook.details as Json | undefined;
    // What /alarms/search returns for it: status at the top, acknowledgement fields, no details.status.
    const rest: Json = { ...webhook, status: (details?.status as string | undefined) ?? 'open', acked: false, ack_admin_name: '', note: '' };
    if (details) rest.details = Object.fromEntries(Object.entries(details).filter(([k]) => k !== 'status'));
    const fromWebhook = normalizeEvent('alarms', webhook, 1, rules);
    const fromRest = normalizeEvent('alarms', alarmAsWebhook(rest), 1, rules);
    expect(fromRest).toEqual(fromWebhook);
    expect(identityOf('alarms', alarmAsWebhook(rest))).toBe(identityOf('alarms', webhook));
  });

  it('gives a searched device event the mac and device type a webhook carries', () => {
    const rest = ((OPENAPI_EXAMPLES.device_events_search as Json).results as Json[])[0]!;
    expect(deviceEventAsWebhook(rest)).toMatchObject({ mac: rest.ap, device_type: 'ap', type: rest.type });
  });

  it('counts a status at the time the API gives for it: last_seen when down, last_seen - uptime when up', () => {
    expect(statusOf({ status: 'disconnected', last_seen: 1000, uptime: 50 })).toEqual({ status: 'disconnected', at: 1_000_000 });
    expect(statusOf({ status: 'connected', last_seen: 1000, uptime: 50 })).toEqual({ status: 'connected', at: 950_000 });
    expect(statusOf({ status: 'restarting' })).toBeNull();
  });

  it('builds the inventory from sites, devices and stats, counting consecutive disconnected checks', () => {
    const site = { id: 's1', name: 'HQ' };
    const device = { mac: 'AABBCCDDEEFF', name: 'AP-1', model: 'AP45', type: 'ap', site_id: 's1' };
    const down = { mac: 'aabbccddeeff', status: 'disconnected', last_seen: 100 };
    const first = inventoryRecords('o', [site], [device], [down], () => undefined);
    expect(first).toEqual([
      { kind: 'site', org_id: 'o', site_id: 's1', name: 'HQ' },
      { kind: 'device', org_id: 'o', mac: 'aabbccddeeff', name: 'AP-1', model: 'AP45', type: 'ap', site_id: 's1', site_name: 'HQ', status: 'disconnected', status_at: 100_000, disconnected_checks: 1 },
    ]);
    const second = inventoryRecords('o', [site], [device], [down], () => first[1] as InventoryDevice);
    expect((second[1] as InventoryDevice).disconnected_checks).toBe(2);
  });
});

describe('back-fill planning', () => {
  it('covers the time since the last pass, overlapping one period, never more than the maximum', () => {
    expect(passWindow(10_000, null, 300, 5000)).toEqual({ start: 9700, end: 10_000 });
    expect(passWindow(10_000, 9000, 300, 5000)).toEqual({ start: 8700, end: 10_000 });
    expect(passWindow(10_000, 1000, 300, 5000)).toEqual({ start: 5000, end: 10_000 });
  });

  it('never delivers an identity twice within the window, and forgets it after', () => {
    const delivered = new Delivered(1000);
    const alarm = { id: 'a', count: 1, last_seen: 5, type: 'device_down' };
    const first = newBodies('alarms', [alarm, alarm], delivered);
    expect(first.keys).toHaveLength(1);
    // Planning marks nothing: an event whose write failed is planned again.
    expect(newBodies('alarms', [alarm], delivered).keys).toHaveLength(1);
    for (const key of first.keys) delivered.add(key, 0);
    expect(newBodies('alarms', [alarm], delivered).bodies).toEqual([]);
    // A count update under a known id is new (a missed Marvis resolution is delivered too).
    expect(newBodies('alarms', [{ ...alarm, count: 2 }], delivered).keys).toHaveLength(1);
    delivered.forget(delivered.expired(1005));
    expect(newBodies('alarms', [alarm], delivered).keys).toHaveLength(1);
    expect(delivered.size).toBe(0);
  });
});

describe('RequestBudget', () => {
  it('lets N requests go per sliding hour and says how long the next one waits', () => {
    const budget = new RequestBudget(2);
    expect([budget.take(0), budget.take(10), budget.take(20)]).toEqual([0, 0, 3_599_980]); // when the first leaves the hour
    expect(budget.take(3_600_000)).toBe(0);
    expect(budget.used(3_600_000)).toBe(2);
  });
});

describe('reconcile (reducer)', () => {
  const device = (patch: Partial<InventoryDevice>): InventoryDevice => ({ kind: 'device', org_id: 'o', mac: 'aa', name: 'AP-1', model: null, type: 'ap', site_id: 's', site_name: 'HQ', status: 'disconnected', status_at: 1000, disconnected_checks: 2, ...patch });
  const view = (incident?: Partial<Incident>) => ({ incident: () => (incident ? ({ key: 'device:o:aa', state: 'open', opened_at: 500, updated_at: 500, resolved_at: null, version: 1, ...incident } as Incident) : undefined), recovery: () => undefined });

  it('opens only after two disconnected checks, and not over a newer state', () => {
    expect(reconcile(view(), device({ disconnected_checks: 1 })).incidents).toEqual([]);
    expect(reconcile(view(), device({})).incidents).toEqual([expect.objectContaining({ state: 'open', opened_at: 1000, context: ['opened by reconciliation'], version: 1 })]);
    expect(reconcile(view({ state: 'resolved', resolved_at: 2000, updated_at: 2000 }), device({})).incidents).toEqual([]);
    expect(reconcile(view({}), device({})).incidents).toEqual([]); // already open
  });

  it('resolves an open incident when the device has been up since after it opened, at that time', () => {
    expect(reconcile(view({}), device({ status: 'connected', status_at: 800 })).incidents).toEqual([expect.objectContaining({ state: 'resolved', resolved_at: 800, resolve_reason: 'reconciled', version: 2 })]);
    expect(reconcile(view({}), device({ status: 'connected', status_at: 400 })).incidents).toEqual([]); // up since before the down
  });
});
