// The console (CONTRACT section 3, GET /): plain DOM, no framework. Every string from Mist is
// attacker-controlled (SSIDs, hostnames, messages): it only ever reaches the page as textContent.
// The API token lives in this tab's session storage and goes out as an Authorization header, never
// in a URL or a cookie; the live stream is read with fetch() because EventSource cannot send headers.

const MAX_LIVE_ROWS = 500;
const TOKEN_KEY = 'mistbridge.apiToken';

type Json = Record<string, unknown>;

const $ = <T extends HTMLElement = HTMLElement>(id: string): T => document.getElementById(id) as T;

function headers(): HeadersInit {
  const token = sessionStorage.getItem(TOKEN_KEY);
  return token ? { authorization: `Bearer ${token}` } : {};
}

class NeedsToken extends Error {}

async function api<T>(path: string, init: RequestInit = {}): Promise<{ body: T; next: string | null }> {
  const response = await fetch(path, { ...init, headers: { ...headers(), ...(init.headers ?? {}) } });
  if (response.status === 401) throw new NeedsToken('API_TOKEN required');
  const body = (await response.json()) as T & { error?: string };
  if (!response.ok) throw new Error(body.error ?? `HTTP ${response.status}`);
  const link = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get('link') ?? '');
  return { body, next: link ? link[1]! : null };
}

/** A table cell (or any element) holding text, never markup. */
function el(tag: string, text: unknown = '', className = ''): HTMLElement {
  const node = document.createElement(tag);
  node.textContent = text === null || text === undefined ? '' : String(text);
  if (className) node.className = className;
  return node;
}

function row(cells: unknown[], onClick?: () => void): HTMLTableRowElement {
  const tr = document.createElement('tr');
  for (const cell of cells) tr.append(cell instanceof HTMLElement ? cell : el('td', cell));
  if (onClick) tr.addEventListener('click', onClick);
  return tr;
}

function ago(ms: number | null | undefined): string {
  if (!ms) return '';
  const s = Math.max(0, Math.round((Date.now() - ms) / 1000));
  if (s < 90) return `${s} s`;
  if (s < 5400) return `${Math.round(s / 60)} min`;
  if (s < 172_800) return `${Math.round(s / 3600)} h`;
  return `${Math.round(s / 86_400)} d`;
}

const time = (ms: number): string => new Date(ms).toLocaleTimeString();

// ---- Pipeline -------------------------------------------------------------------------------

async function refreshSummary(): Promise<void> {
  const { body } = await api<Json>('/api/summary');
  const summary = $('summary');
  summary.replaceChildren();
  const add = (term: string, value: unknown, className = ''): void => summary.append(el('dt', term), el('dd', value, className));
  add('ready', body.ready ? 'yes' : 'no', body.ready ? 'ok' : 'bad');
  const perMinute = (body.webhooks_per_minute ?? {}) as Record<string, number>;
  add('webhooks last minute', Object.entries(perMinute).map(([outcome, n]) => `${outcome} ${n}`).join(', ') || 'none');
  add('last webhook', body.last_webhook_at ? `${ago(Number(body.last_webhook_at))} ago` : 'none since start');
  add('Splunk HEC', body.hec ?? 'off');
  add('dead letters waiting', body.dead_letters ?? 'n/a');
  $('served-by').textContent = String(body.served_by ?? '');
  companion = body.doctor === true;
  const checks = $('checks');
  checks.replaceChildren();
  for (const [name, check] of Object.entries((body.checks ?? {}) as Record<string, { ok: boolean; words: string }>)) {
    checks.append(row([name, el('td', check.words, check.ok ? 'ok' : 'bad')]));
  }
}

// ---- Live -----------------------------------------------------------------------------------

let live: AbortController | null = null;
let paused = false;
/** The Mist events as received, by event_id (sent only with PRIVACY_MODE=off), for the rows shown. */
const raws = new Map<string, unknown>();

function filters(): { query: string; type: string } {
  const query = new URLSearchParams();
  for (const [param, id] of [['topic', 'f-topic'], ['site', 'f-site'], ['severity', 'f-severity']] as const) {
    const value = $<HTMLInputElement>(id).value.trim();
    if (value) query.set(param, value);
  }
  return { query: query.toString(), type: $<HTMLInputElement>('f-type').value.trim().toUpperCase() };
}

function showEvent(event: Json): void {
  const wanted = filters().type;
  if (paused || (wanted && String(event.type).toUpperCase() !== wanted)) return;
  const body = $('events');
  const severity = String(event.severity ?? '');
  body.prepend(
    row([time(Number(event.received_at)), event.topic, event.type, el('td', severity, `sev-${severity}`), event.site_name ?? event.site_id, event.device_name ?? event.device_mac, event.message], () => {
      const detail = $('event-detail');
      const raw = raws.get(String(event.event_id));
      // The raw event is there only without privacy rules: privacy redacts before normalization.
      detail.textContent = `normalized:\n${JSON.stringify(event, null, 2)}${raw === undefined ? '' : `\n\nas Mist sent it:\n${JSON.stringify(raw, null, 2)}`}`;
      detail.hidden = false;
    }),
  );
  while (body.childElementCount > MAX_LIVE_ROWS) body.lastElementChild!.remove();
  while (raws.size > MAX_LIVE_ROWS) raws.delete(raws.keys().next().value!);
}

async function streamLive(): Promise<void> {
  live?.abort();
  const controller = new AbortController();
  live = controller;
  const state = $('live-state');
  try {
    const response = await fetch(`/api/tail?raw=true&${filters().query}`, { headers: headers(), signal: controller.signal });
    if (!response.ok || !response.body) {
      state.textContent = response.status === 404 ? 'this process does not normalize events: no live view here' : `live view unavailable (HTTP ${response.status})`;
      return;
    }
    state.textContent = 'live';
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end: number;
      while ((end = buffer.indexOf('\n\n')) >= 0) {
        const frame = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const kind = /^event: (.+)$/m.exec(frame)?.[1];
        const data = /^data: (.+)$/m.exec(frame)?.[1];
        if (kind === 'event' && data) showEvent(JSON.parse(data) as Json);
        else if (kind === 'raw' && data) {
          const { event_id: id, raw } = JSON.parse(data) as { event_id: string; raw: unknown };
          raws.set(id, raw);
        }
      }
    }
    state.textContent = 'stream ended; reconnecting';
  } catch (err) {
    if (controller.signal.aborted) return;
    state.textContent = `stream interrupted (${(err as Error).message}); reconnecting`;
  }
  if (!controller.signal.aborted) setTimeout(() => void streamLive(), 3000);
}

// ---- Incidents and devices --------------------------------------------------------------------

async function refreshIncidents(): Promise<void> {
  const { body, next } = await api<Json[]>('/api/incidents?state=open&limit=200');
  const rows = $('incident-rows');
  rows.replaceChildren(
    ...body
      .sort((a, b) => Number(a.opened_at) - Number(b.opened_at))
      .map((i) => row([time(Number(i.opened_at)), ago(Number(i.opened_at)), el('td', i.severity, `sev-${String(i.severity)}`), i.kind, i.title, i.site_name ?? i.site_id])),
  );
  $('incidents-more').hidden = next === null;
}

async function refreshDevices(): Promise<void> {
  const { body, next } = await api<Json[]>('/api/devices?limit=500');
  const rows = $('device-rows');
  rows.replaceChildren(
    ...body
      .sort((a, b) => Number(a.up === true) - Number(b.up === true))
      .map((d) => row([el('td', d.up ? 'up' : 'down', d.up ? 'ok' : 'bad'), d.device_name ?? d.device_mac, d.device_type, d.site_name ?? d.site_id, ago(Number(d.since))])),
  );
  $('devices-more').hidden = next === null;
}

// ---- Dead letters ---------------------------------------------------------------------------

async function refreshDlq(): Promise<void> {
  const { body } = await api<Json[]>('/api/dlq?limit=200');
  $('dlq-rows').replaceChildren(
    ...body.map((letter) => {
      const redrive = el('button', 'Redrive');
      redrive.addEventListener('click', (e) => {
        e.stopPropagation();
        void act(() => api('/api/dlq/redrive', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ ids: [letter.id] }) }), `redriven ${String(letter.id)}`);
      });
      const actions = el('td');
      actions.append(redrive);
      return row([ago(Number(letter.dead_lettered_at)), letter.destination ? `${String(letter.stage)}:${String(letter.destination)}` : letter.stage, letter.reason, letter.error, actions], () => void showLetter(String(letter.id)));
    }),
  );
}

async function showLetter(id: string): Promise<void> {
  const { body } = await api<Json>(`/api/dlq/${encodeURIComponent(id)}`);
  const detail = $('dlq-detail');
  const value = typeof body.value_base64 === 'string' ? atob(body.value_base64) : '';
  detail.textContent = `${JSON.stringify({ ...body, value_base64: undefined }, null, 2)}\n\nmessage:\n${value.slice(0, 20_000)}`;
  detail.hidden = false;
}

async function act(action: () => Promise<unknown>, done: string): Promise<void> {
  const state = $('dlq-state');
  try {
    await action();
    state.textContent = done;
  } catch (err) {
    state.textContent = (err as Error).message;
  }
  await refreshDlq().catch(() => undefined);
  await refreshSummary().catch(() => undefined);
}

// ---- Doctor ---------------------------------------------------------------------------------

let companion = false;

async function refreshDoctor(): Promise<void> {
  const box = $('doctor-body');
  if (!companion) return; // the view says where the check runs
  try {
    const { body } = await api<{ checked_at: number | null; lines: Array<{ level: string; text: string }> }>('/api/doctor');
    box.replaceChildren(el('p', body.checked_at ? `checked ${ago(body.checked_at)} ago` : 'not checked yet', 'muted'), ...body.lines.map((l) => el('div', `${l.level.padEnd(5)} ${l.text}`, l.level === 'FAIL' ? 'bad' : '')));
  } catch (err) {
    if (err instanceof NeedsToken) throw err;
    box.textContent = (err as Error).message;
  }
}

// ---- Start ----------------------------------------------------------------------------------

function every(ms: number, work: () => Promise<void>): void {
  const run = (): void => void work().catch((err: Error) => (err instanceof NeedsToken ? askToken() : undefined));
  run();
  setInterval(run, ms);
}

function askToken(message = ''): void {
  live?.abort();
  $('views').hidden = true;
  $('token-form').hidden = false;
  $('token-error').textContent = message;
}

async function open(): Promise<void> {
  try {
    await refreshSummary();
  } catch (err) {
    if (err instanceof NeedsToken) return askToken(sessionStorage.getItem(TOKEN_KEY) ? 'that token was refused' : '');
    $('token-error').textContent = (err as Error).message;
    $('token-form').hidden = false;
    return;
  }
  $('token-form').hidden = true;
  $('views').hidden = false;
  every(5000, refreshSummary);
  every(5000, refreshIncidents);
  every(5000, refreshDevices);
  every(5000, refreshDlq);
  every(60_000, refreshDoctor);
  void streamLive();
}

$('token-form').addEventListener('submit', (e) => {
  e.preventDefault();
  sessionStorage.setItem(TOKEN_KEY, $<HTMLInputElement>('token').value);
  void open();
});
$('pause').addEventListener('click', () => {
  paused = !paused;
  $('pause').textContent = paused ? 'Resume' : 'Pause';
});
for (const id of ['f-topic', 'f-site', 'f-severity']) $(id).addEventListener('change', () => void streamLive());
$('dlq-redrive-stage').addEventListener('click', () => {
  const stage = $<HTMLSelectElement>('dlq-stage').value;
  void act(() => api('/api/dlq/redrive', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ stage }) }), `redrove stage ${stage}`);
});
$('dlq-purge').addEventListener('click', () => {
  const hours = Number($<HTMLInputElement>('dlq-hours').value);
  void act(() => api('/api/dlq/purge', { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ before: Date.now() - hours * 3_600_000 }) }), `purged letters older than ${hours} h`);
});
void open();
