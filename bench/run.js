#!/usr/bin/env node
// npm run bench: ingress, normalizer, end to end, memory and scaling figures, each beside its ceiling.
// Prints a table and writes bench/results/latest.json. Needs `npm run build` (done by the npm script).
const { spawn } = require('node:child_process');
const { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } = require('node:fs');
const { cpus, totalmem } = require('node:os');
const { join } = require('node:path');
const autocannon = require('autocannon');
const { ROOT, SECRET, sign, startNode, startMistbridge, startEntrypoint, stop, peakRssMb, startHec, webhookBody, denseBody, percentile } = require('./lib');
const { createMemoryCgroup } = require('./cgroup');

const results = [];
function record(name, value, unit, ceiling = null, target = null) {
  const ratio = ceiling ? value / ceiling : null;
  results.push({ name, value, unit, ceiling, ratio, target });
  const fmt = (v) => (v === null ? '' : Number.isFinite(v) ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2)) : String(v));
  console.log(`${name.padEnd(58)} ${fmt(value).padStart(10)} ${unit.padEnd(8)} ${ceiling === null ? '' : `ceiling ${fmt(ceiling)}  ratio ${fmt(ratio)}`}${target ? `  target ${target}` : ''}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tmpDir = () => require('node:fs').mkdtempSync(join(require('node:os').tmpdir(), 'mistbridge-bench-'));

async function cannon(url, body, seconds, connections = 50) {
  const result = await autocannon({
    url: `${url}/webhooks/mist`,
    method: 'POST',
    connections,
    duration: seconds,
    headers: { 'content-type': 'application/json', 'x-mist-signature-v2': sign(body) },
    body,
  });
  const ok = result['2xx'];
  return { rps: ok / (result.duration || seconds), p50: result.latency.p50, p99: result.latency.p99, non2xx: result.non2xx };
}

const median = (values) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];
/** A figure over several runs: min / median / max of the values and of their per-run ratios. */
function recordRuns(name, values, unit, ceilings = null, target = null) {
  const ratios = ceilings ? values.map((v, i) => v / ceilings[i]) : null;
  const span = (xs) => ({ min: Math.min(...xs), median: median(xs), max: Math.max(...xs) });
  results.push({ name, unit, runs: values, ceilings, ratios, value: span(values), ceiling: ceilings && span(ceilings), ratio: ratios && span(ratios), target });
  const f = (x) => (Math.abs(x) >= 100 ? x.toFixed(0) : x.toFixed(2));
  const show = (xs) => { const r = span(xs); return `${f(r.min)} / ${f(r.median)} / ${f(r.max)}`; };
  console.log(`${name.padEnd(58)} ${show(values).padStart(22)} ${unit.padEnd(6)}${ceilings ? ` ceiling ${show(ceilings)}  ratio ${show(ratios)}` : ''}${target ? `  target ${target}` : ''}  (min / median / max of ${values.length})`);
}

/**
 * The embedded ingress (with the normalizer and metrics in the process, every webhook fsynced)
 * against bare node:http, and at 16 connections also against node:http with the same durable
 * write (append + group-committed fsync): five rounds, the servers interleaved so that noise hits
 * each alike.
 */
async function ingressBench(rounds = 5, seconds = 4) {
  const body = readFileSync(join(ROOT, 'test', 'fixtures', 'samples', 'alarms__device-restarted-alarmdef.json'));
  const bare = await startNode(join(__dirname, 'bare-server.js'), [], {});
  const durable = await startNode(join(__dirname, 'bare-server.js'), [], { DURABLE_DIR: tmpDir() });
  const mb = await startMistbridge({ DATA_DIR: tmpDir() }, 'ingress,normalizer,metrics');
  for (const server of [bare, durable, mb]) await cannon(server.url, body, 2); // warm-up
  const runs = { bare50: [], ours50: [], bare16: [], durable16: [], ours16: [], p50: [], p99: [], bareP99: [] };
  for (let round = 0; round < rounds; round++) {
    const b50 = await cannon(bare.url, body, seconds, 50);
    const o50 = await cannon(mb.url, body, seconds, 50);
    runs.bare50.push(b50.rps);
    runs.ours50.push(o50.rps);
    runs.p50.push(o50.p50);
    runs.p99.push(o50.p99);
    runs.bareP99.push(b50.p99);
    runs.bare16.push((await cannon(bare.url, body, seconds, 16)).rps);
    runs.durable16.push((await cannon(durable.url, body, seconds, 16)).rps);
    runs.ours16.push((await cannon(mb.url, body, seconds, 16)).rps);
  }
  await Promise.all([bare, durable, mb].map(stop));
  recordRuns('ingress: signed webhooks/s, 50 connections, vs bare node:http', runs.ours50, 'req/s', runs.bare50, '>= 0.45');
  recordRuns('ingress: signed webhooks/s, 16 connections, vs bare node:http', runs.ours16, 'req/s', runs.bare16, '>= 0.45');
  recordRuns('ingress: 16 connections, vs node:http + durable write', runs.ours16, 'req/s', runs.durable16);
  recordRuns('ingress: p50 latency, 50 connections', runs.p50, 'ms');
  recordRuns('ingress: p99 latency, 50 connections (bare: ceiling)', runs.p99, 'ms', runs.bareP99);
}

function normalizerBench() {
  const { normalizeWebhook } = require(join(ROOT, 'dist', 'normalizer', 'normalize.js'));
  const { eventCodec } = require(join(ROOT, 'dist', 'domain', 'mist-event.js'));
  const codec = eventCodec();
  const dir = join(ROOT, 'test', 'fixtures', 'samples');
  const bodies = readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => readFileSync(join(dir, f)));
  const rules = { map: {}, overrides: {} };
  const run = (fn, ms) => {
    let events = 0;
    const end = performance.now() + ms;
    while (performance.now() < end) for (const body of bodies) events += fn(body);
    return events;
  };
  const ceilingFn = (body) => {
    const parsed = JSON.parse(body.toString('utf8'));
    for (const event of parsed.events) JSON.stringify(event);
    return parsed.events.length;
  };
  const oursFn = (body) => {
    const result = normalizeWebhook(body, Date.now(), rules);
    let n = 0;
    for (const r of result.results) if (r.ok) { codec.encode(r.event); n++; }
    return n;
  };
  run(ceilingFn, 1000);
  run(oursFn, 1000);
  const ceiling = run(ceilingFn, 5000) / 5;
  const ours = run(oursFn, 5000) / 5;
  record('normalizer: events/s on one core (normalize + Avro)', ours, 'ev/s', ceiling, '>= 0.5');
  const dedupe = require('node:child_process').execFileSync(process.execPath, ['--expose-gc', join(__dirname, 'dedupe-memory.js')]);
  record('memory: full dedupe window at 1,000 ev/s (600,000 ids)', Number(dedupe), 'MB');
}

/** Posts `rate` events/s (10 per webhook) for `seconds`; returns 200-to-HEC latencies and the peak RSS. */
async function steady(mb, hec, rate, seconds, firstSeq, sites = 1) {
  const perBody = 10;
  const intervalMs = (1000 * perBody) / rate;
  const sent = new Map();
  let seq = firstSeq;
  const started = performance.now();
  const inflight = [];
  while (performance.now() - started < seconds * 1000) {
    const body = webhookBody(seq, perBody, 0, sites);
    const first = seq;
    seq += perBody;
    inflight.push(
      fetch(`${mb.url}/webhooks/mist`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-mist-signature-v2': sign(body) }, body }).then(async (r) => {
        await r.arrayBuffer();
        if (r.status === 200) {
          const t = performance.now();
          for (let i = 0; i < perBody; i++) sent.set(String(first + i), t);
        }
      }),
    );
    const next = started + ((seq - firstSeq) / perBody) * intervalMs;
    await sleep(Math.max(0, next - performance.now()));
  }
  await Promise.all(inflight);
  const deadline = performance.now() + 30000;
  while ([...sent.keys()].some((s) => !hec.arrivals.has(s)) && performance.now() < deadline) await sleep(50);
  const latencies = [...sent.entries()].filter(([s]) => hec.arrivals.has(s)).map(([s, t]) => hec.arrivals.get(s) - t).sort((a, b) => a - b);
  return { latencies, delivered: latencies.length, sent: sent.size, rss: peakRssMb(mb.child.pid), nextSeq: seq };
}

async function saturate(mb, hec, seconds, firstSeq, sites = 1) {
  let seq = firstSeq;
  let accepted = 0;
  const before = hec.events();
  const started = performance.now();
  const worker = async () => {
    while (performance.now() - started < seconds * 1000) {
      const body = webhookBody(seq, 10, 0, sites);
      seq += 10;
      const r = await fetch(`${mb.url}/webhooks/mist`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-mist-signature-v2': sign(body) }, body });
      await r.arrayBuffer();
      if (r.status === 200) accepted += 10;
    }
  };
  await Promise.all(Array.from({ length: 32 }, worker));
  const deadline = performance.now() + 60000;
  while (hec.events() - before < accepted && performance.now() < deadline) await sleep(50);
  const elapsed = (performance.now() - started) / 1000;
  return { eventsPerSecond: (hec.events() - before) / elapsed, accepted, rss: peakRssMb(mb.child.pid), nextSeq: seq };
}

async function endToEndEmbedded() {
  const hec = await startHec();
  const linger = 100;
  const mb = await startMistbridge({ DATA_DIR: tmpDir(), SPLUNK_HEC_URL: hec.url, SPLUNK_HEC_TOKEN: hec.token, SPLUNK_HEC_LINGER_MS: String(linger) });
  let seq = 1;
  const warm = await steady(mb, hec, 1000, 2, seq);
  seq = warm.nextSeq;
  const run = await steady(mb, hec, 1000, 15, seq);
  seq = run.nextSeq;
  record('end to end, embedded: p50 200→HEC at 1,000 ev/s', percentile(run.latencies, 50), 'ms');
  record(`end to end, embedded: p99 200→HEC at 1,000 ev/s (linger ${linger} ms)`, percentile(run.latencies, 99), 'ms', null, `<= linger + 50 = ${linger + 50}`);
  record('end to end, embedded: events delivered / accepted', run.delivered / run.sent, 'ratio');
  record('memory: peak RSS at 1,000 ev/s, embedded, all roles', run.rss, 'MB', null, '<= 150');
  const sat = await saturate(mb, hec, 10, seq);
  record('end to end, embedded: saturation throughput', sat.eventsPerSecond, 'ev/s');
  // No memory budget: an unpaced flood (64 in flight), every event naming a new AP.
  const unpaced = await flood(mb, 10, Infinity, sat.nextSeq, new Set(), 0);
  record('memory: peak RSS after an unpaced flood (503s shed it)', unpaced.rss, 'MB');
  record('memory: flood answers 200 / 503', unpaced.shed === 0 ? unpaced.ok : unpaced.ok / unpaced.shed, unpaced.shed === 0 ? 'all 200' : 'ratio');
  record('memory: /healthz p99 during the flood', unpaced.healthP99, 'ms');
  await stop(mb);
  await hec.close();
}

/**
 * `mistbridge redeliver` on the embedded journal's archive: three windows (a tenth, a half, all of
 * 120,000 events) re-delivered to a HEC stand-in by the command itself. The command streams (a chunk
 * delivered before more webhooks are read), so its peak RSS must not grow with the window; its rate
 * is the Splunk pacing (5,000 events/s) or less.
 */
async function redeliverBench() {
  const hec = await startHec();
  const dataDir = tmpDir();
  const mb = await startMistbridge({ DATA_DIR: dataDir, SPLUNK_HEC_URL: hec.url, SPLUNK_HEC_TOKEN: hec.token, SPLUNK_HEC_LINGER_MS: '50' });
  const PER_BODY = 500;
  const BODIES = 240; // 120,000 events
  const started = Date.now();
  let seq = 1;
  const marks = [];
  for (let i = 0; i < BODIES; i++) {
    const body = webhookBody(seq, PER_BODY, 5000);
    seq += PER_BODY;
    const response = await fetch(`${mb.url}/webhooks/mist`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-mist-signature-v2': sign(body) }, body });
    if (response.status !== 200) throw new Error(`webhook ${i}: ${response.status}`);
    marks.push(Date.now());
    await sleep(5); // received times spread over the run
  }
  while (hec.events() < (seq - 1)) await sleep(200);
  await stop(mb);

  const redeliver = (from, until) =>
    new Promise((resolve, reject) => {
      const before = hec.events();
      const began = performance.now();
      const child = spawn(process.execPath, [join(ROOT, 'dist', 'cli.js'), 'redeliver', '--from', String(from), '--until', String(until), '--margin', '0', '--sink', 'splunk'], {
        env: { PATH: process.env.PATH, DATA_DIR: dataDir, SPLUNK_HEC_URL: hec.url, SPLUNK_HEC_TOKEN: hec.token, LOG_LEVEL: 'warn' },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let peak = 0;
      const poll = setInterval(() => (peak = Math.max(peak, peakRssMb(child.pid) || 0)), 50);
      child.once('exit', (code) => {
        clearInterval(poll);
        if (code !== 0) reject(new Error(`redeliver exited with ${code}`));
        const seconds = (performance.now() - began) / 1000;
        resolve({ events: hec.events() - before, seconds, rss: peak });
      });
    });
  // Event times are the received times to the second (webhookBody stamps now): windows of the
  // first tenth, the first half and all of the bodies.
  const windows = [];
  for (const share of [0.1, 0.5, 1]) windows.push({ share, ...(await redeliver(started - 1000, share === 1 ? Date.now() : marks[BODIES * share - 1])) });
  const all = windows.at(-1);
  record(`redeliver: events of the whole window (${BODIES} webhooks)`, all.events, 'events', null, `= ${seq - 1}`);
  record('redeliver: rate to Splunk, whole window', all.events / all.seconds, 'ev/s', null, '<= 5,000 (paced)');
  for (const w of windows) record(`redeliver: peak RSS, ${w.events} events`, w.rss, 'MB', w === all ? windows[1].rss : null, w === all ? 'flat: twice the half window\'s events' : null);
  await hec.close();
}

const TOPICS = ['raw', 'events', 'incidents', 'recoveries', 'dlq', 'inventory', 'backfill'];

async function startBroker() {
  const binary = join(ROOT, 'test', 'tools', 'bin', 'kafka-mock');
  if (!existsSync(binary)) return null;
  const child = spawn(binary, ['1'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const bootstrap = await new Promise((resolve, reject) => {
    child.once('exit', () => reject(new Error('kafka-mock exited')));
    require('node:readline').createInterface({ input: child.stdout }).on('line', (l) => l.startsWith('BOOTSTRAP ') && resolve(l.slice(10)));
  });
  /** Every topic of a prefix, 4 partitions each. */
  const topics = async (prefix) => {
    for (const t of TOPICS) child.stdin.write(`topic ${prefix}${t} 4\n`);
    await sleep(500);
  };
  return { child, bootstrap, topics, stop: () => child.stdin.end() };
}

const ROLES = ['ingress', 'normalizer', 'splunk', 'metrics', 'correlator'];

/** Kafka mode end to end: every role in one process, or each role in its own; steady 1,000 ev/s, then saturation. */
async function kafkaEndToEnd(broker, label, prefix, { env = {}, separate = false, sites = 1 } = {}) {
  await broker.topics(prefix);
  const hec = await startHec();
  const common = { KAFKA_BROKERS: broker.bootstrap, KAFKA_IDEMPOTENT: 'false', KAFKA_TOPIC_PREFIX: prefix, SPLUNK_HEC_URL: hec.url, SPLUNK_HEC_TOKEN: hec.token, SPLUNK_HEC_LINGER_MS: '100', ...env };
  const procs = separate
    ? await Promise.all(ROLES.map((role) => startMistbridge({ ...common, DATA_DIR: tmpDir() }, role)))
    : [await startMistbridge({ ...common, DATA_DIR: tmpDir() }, ROLES.join(','))];
  await sleep(8000); // consumer groups join
  const front = procs[0];
  const warm = await steady(front, hec, 1000, 3, 10_000_000, sites);
  const run = await steady(front, hec, 1000, 10, warm.nextSeq, sites);
  record(`Kafka ${label}: p50 200→HEC at 1,000 ev/s`, percentile(run.latencies, 50), 'ms');
  record(`Kafka ${label}: p99 200→HEC at 1,000 ev/s`, percentile(run.latencies, 99), 'ms', null, '<= 250');
  record(`Kafka ${label}: delivered / accepted`, run.delivered / run.sent, 'ratio');
  const sat = await saturate(front, hec, 10, run.nextSeq, sites);
  record(`Kafka ${label}: saturation`, sat.eventsPerSecond, 'ev/s');
  await Promise.all(procs.map(stop));
  await hec.close();
}

async function kafkaBenches(broker) {
  // BENCH_KAFKA='[["label", {"env": {...}, "separate": true, "sites": 20}], …]' runs other
  // scenarios instead (how the linger and fetch-wait choices in RESULTS.md were compared).
  const scenarios = JSON.parse(process.env.BENCH_KAFKA ?? 'null') ?? [
    ['one process, coalescing off', { env: { KAFKA_PRODUCE_COALESCE: 'false' } }],
    ['one process, coalescing on', {}],
    ['a process per role, coalescing on', { separate: true }],
  ];
  for (const [i, [label, options]] of scenarios.entries()) await kafkaEndToEnd(broker, label, `k${i}.`, options);
  if (process.env.BENCH_KAFKA) return;

  // Scaling: the same backlog of raw webhooks drained by one, then two normalizer processes.
  const drain = async (normalizers, prefix) => {
    await broker.topics(prefix);
    const env = { KAFKA_BROKERS: broker.bootstrap, KAFKA_IDEMPOTENT: 'false', KAFKA_TOPIC_PREFIX: prefix, DATA_DIR: tmpDir() };
    const ingress = await startMistbridge(env, 'ingress');
    let next = 0;
    const poster = async () => {
      for (let i = next++; i < 2000; i = next++) {
        const body = webhookBody(20_000_000 + i * 10, 10, 0, 20);
        const r = await fetch(`${ingress.url}/webhooks/mist`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-mist-signature-v2': sign(body) }, body });
        await r.arrayBuffer();
      }
    };
    await Promise.all(Array.from({ length: 16 }, poster));
    const started = performance.now();
    const procs = await Promise.all(Array.from({ length: normalizers }, () => startMistbridge(env, 'normalizer')));
    let lag = Infinity;
    while (lag > 0 && performance.now() - started < 120000) {
      await sleep(250);
      const text = await (await fetch(`${procs[0].adminUrl}/metrics`)).text();
      const values = [...text.matchAll(/^mistbridge_consumer_lag\{group="mistbridge-normalizer",topic="[^"]+raw",partition="\d+"\} (\d+)/gm)].map((m) => Number(m[1]));
      lag = values.length === 4 ? values.reduce((a, b) => a + b, 0) : Infinity;
    }
    const seconds = (performance.now() - started) / 1000;
    await Promise.all([...procs, ingress].map(stop));
    return 20000 / seconds;
  };
  const one = await drain(1, 'a.');
  const two = await drain(2, 'b.');
  record('scaling: 20,000 events drained by 1 normalizer (incl. group join)', one, 'ev/s');
  record('scaling: the same by 2 normalizers (incl. group join)', two, 'ev/s', one);
}

/**
 * Posts 100-event webhooks at `eventsPerSecond` (Infinity: unpaced; at most 64 in flight) for
 * `seconds`, polling /healthz; the sequence numbers of what was answered 200 go into `accepted`.
 */
async function flood(proc, seconds, eventsPerSecond, firstSeq, accepted, devices = FLEET) {
  const perBody = 100;
  const interval = (1000 * perBody) / eventsPerSecond;
  let seq = firstSeq;
  let ok = 0;
  let shed = 0;
  let failed = 0;
  let inflight = 0;
  const health = [];
  let running = true;
  let rss = 0; // sampled while it runs: an out-of-memory exit takes /proc's record with it
  const poll = (async () => {
    while (running) {
      const t = performance.now();
      await fetch(`${proc.url}/healthz`).then((r) => r.arrayBuffer()).catch(() => {});
      health.push(performance.now() - t);
      rss = Math.max(rss, peakRssMb(proc.child.pid) || 0);
      await sleep(100);
    }
  })();
  const pending = [];
  const started = performance.now();
  for (let n = 1; performance.now() - started < seconds * 1000; n++) {
    if (inflight < 64) {
      const body = webhookBody(seq, perBody, devices);
      const first = seq;
      seq += perBody;
      inflight++;
      pending.push(
        fetch(`${proc.url}/webhooks/mist`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-mist-signature-v2': sign(body) }, body })
          .then(async (r) => {
            await r.arrayBuffer();
            if (r.status === 200) {
              ok++;
              for (let i = 0; i < perBody; i++) accepted.add(String(first + i));
            } else shed++;
          })
          .catch(() => failed++)
          .finally(() => inflight--),
      );
    }
    await sleep(Math.max(0, started + n * interval - performance.now()));
  }
  await Promise.all(pending);
  running = false;
  await poll;
  return { ok, shed, failed, rss, nextSeq: seq, healthP99: percentile(health.sort((a, b) => a - b), 99) };
}

/** The flood's devices: a large organisation's fleet (memory also grows with distinct devices: open incidents, device series). */
const FLEET = 5000;

async function untilDelivered(hec, accepted, timeoutMs) {
  const deadline = performance.now() + timeoutMs;
  const missing = () => [...accepted].filter((s) => !hec.arrivals.has(s)).length;
  while (missing() > 0 && performance.now() < deadline) await sleep(200);
  return accepted.size === 0 ? 1 : (accepted.size - missing()) / accepted.size;
}

/**
 * Four dense webhooks (50,000 events each, the Memory issue's case) with Splunk down, three kill -9
 * and restarts (the replay), then Splunk back: inside the 256 MiB cgroup, the kernel's OOM kills
 * and the anonymous memory sampled.
 */
async function denseBench(cgroup, anon) {
  const hec = await startHec();
  const env = { DATA_DIR: tmpDir(), MEMORY_LIMIT_MB: '256', SPLUNK_HEC_URL: hec.url, SPLUNK_HEC_TOKEN: hec.token, SPLUNK_HEC_LINGER_MS: '100' };
  const roles = ROLES.join(',');
  hec.setDown(true);
  let mb = await startEntrypoint(env, roles, cgroup);
  anon.reset();
  const accepted = new Set();
  const statuses = [];
  for (let body = 0; body < 4; body++) {
    const payload = denseBody(body * 50_000, 50_000);
    const r = await fetch(`${mb.url}/webhooks/mist`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-mist-signature-v2': sign(payload) }, body: payload }).catch(() => ({ status: 'failed', arrayBuffer: async () => null }));
    await r.arrayBuffer();
    statuses.push(r.status);
    if (r.status === 200) for (let i = 0; i < 50_000; i++) accepted.add(String(body * 50_000 + i));
  }
  await sleep(3000);
  for (let kill = 0; kill < 3; kill++) {
    mb.child.kill('SIGKILL');
    await new Promise((r) => (mb.child.exitCode !== null || mb.child.signalCode !== null ? r() : mb.child.once('exit', r)));
    mb = await startEntrypoint(env, roles, cgroup);
    await sleep(3000);
  }
  hec.setDown(false);
  const t0 = performance.now();
  const ratio = await untilDelivered(hec, accepted, 120_000);
  console.log(`  four 50,000-event bodies answered ${statuses.join(', ')}`);
  record('256 MiB cgroup: 4 dense bodies, Splunk down, 3× kill -9: OOM kills', cgroup.oomKills(), 'kills', null, '0');
  record('256 MiB cgroup: 4 dense bodies: anonymous memory peak', anon.peakMb(), 'MB', null, '<= 240');
  record('256 MiB cgroup: 4 dense bodies: Splunk back → all delivered', performance.now() - t0, 'ms');
  record('256 MiB cgroup: 4 dense bodies: delivered / accepted', ratio, 'ratio', null, '1.00');
  await stop(mb);
  await hec.close();
}

/**
 * A 256 MiB pod: the process through the image's entry point with MEMORY_LIMIT_MB=256 inside a
 * real 256 MiB memory cgroup (where this machine lets us make one: root), a 10× flood (10,000
 * events/s) for 30 s while Splunk is down; then Splunk back (recovery), then a flood, a kill -9
 * under a full backlog and a restart (the replay). And the Kafka-mode ingress under the same budget.
 */
async function memoryBench(broker) {
  const made = createMemoryCgroup(`mistbridge-bench-${process.pid}`, 256);
  const cgroup = 'error' in made ? null : made;
  if (!cgroup) console.log(`  no memory cgroup (${made.error}): peak RSS instead of the kernel's figures`);
  // Anonymous memory (v1 total_rss, v2 anon) sampled every 50 ms: page cache from journal writes is not the process's.
  let anonPeak = 0;
  const sampler = cgroup && setInterval(() => (anonPeak = Math.max(anonPeak, cgroup.anonBytes())), 50);
  const anon = { reset: () => (anonPeak = 0), peakMb: () => anonPeak / 2 ** 20 };
  try {
    if (cgroup) await denseBench(cgroup, anon);
    await floodInBudget(broker, cgroup, anon);
  } finally {
    if (sampler) clearInterval(sampler);
    await cgroup?.remove();
  }
}

async function floodInBudget(broker, cgroup, anon) {
  const hec = await startHec();
  const env = { DATA_DIR: tmpDir(), MEMORY_LIMIT_MB: '256', SPLUNK_HEC_URL: hec.url, SPLUNK_HEC_TOKEN: hec.token, SPLUNK_HEC_LINGER_MS: '100' };
  const roles = ROLES.join(',');
  let mb = await startEntrypoint(env, roles, cgroup);
  anon.reset();
  const kills = () => (cgroup ? cgroup.oomKills() : 0);
  const killsBefore = kills();
  console.log(`  256 MiB pod: heap cap ${mb.ready.heap_limit_mb} MB, budget ${mb.ready.memory_budget_mb} MB`);
  const accepted = new Set();
  hec.setDown(true);
  const a = await flood(mb, 30, 10_000, 30_000_000, accepted);
  const oom = () => (mb.child.exitCode !== null || mb.child.signalCode !== null ? 1 : 0);
  record('256 MiB, embedded, 10× flood 30 s, Splunk down: out-of-memory exits', oom(), 'exits', null, '0');
  record('256 MiB, embedded, 10× flood: peak RSS', a.rss, 'MB', null, '<= 240');
  if (cgroup) record('256 MiB cgroup, 10× flood: anonymous memory peak', anon.peakMb(), 'MB', null, '<= 240');
  record('256 MiB, embedded, 10× flood: share of 503', a.shed / (a.ok + a.shed), 'ratio');
  record('256 MiB, embedded, 10× flood: /healthz p99', a.healthP99, 'ms');
  if (oom()) {
    console.log('  the process ran out of memory: no recovery or replay figures');
    await hec.close();
    return;
  }

  // Recovery: Splunk back; until a webhook is answered 200 again, and until all accepted is in Splunk.
  hec.setDown(false);
  const t0 = performance.now();
  let recovered = null;
  let seq = a.nextSeq;
  while (recovered === null && performance.now() - t0 < 120_000) {
    const body = webhookBody(seq, 10, FLEET);
    const r = await fetch(`${mb.url}/webhooks/mist`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-mist-signature-v2': sign(body) }, body });
    await r.arrayBuffer();
    if (r.status === 200) {
      recovered = performance.now() - t0;
      for (let i = 0; i < 10; i++) accepted.add(String(seq + i));
    } else await sleep(100);
    seq += 10;
  }
  const ratio = await untilDelivered(hec, accepted, 120_000);
  record('256 MiB, embedded: Splunk back → first 200 again', recovered ?? NaN, 'ms');
  record('256 MiB, embedded: Splunk back → every accepted event delivered', performance.now() - t0, 'ms');

  // A kill -9 under a full backlog, and the replay at start-up in the same budget.
  hec.setDown(true);
  const b = await flood(mb, 15, 10_000, seq, accepted);
  mb.child.kill('SIGKILL');
  await new Promise((r) => (mb.child.exitCode !== null || mb.child.signalCode !== null ? r() : mb.child.once('exit', r)));
  hec.setDown(false);
  const restarted = performance.now();
  mb = await startEntrypoint(env, roles, cgroup);
  const replayed = await untilDelivered(hec, accepted, 120_000);
  record('256 MiB, embedded: kill -9 under a full backlog, replay peak RSS', peakRssMb(mb.child.pid), 'MB', null, '<= 240');
  record('256 MiB, embedded: restart → every accepted event delivered', performance.now() - restarted, 'ms');
  record('256 MiB, embedded: delivered / accepted (both floods)', Math.min(ratio, replayed), 'ratio', null, '1.00');
  if (cgroup) {
    record('256 MiB cgroup: flood, catch-up, kill -9 and replay: anonymous memory peak', anon.peakMb(), 'MB', null, '<= 240');
    record('256 MiB cgroup: flood, catch-up, kill -9 and replay: OOM kills', kills() - killsBefore, 'kills', null, '0');
  }
  console.log(`  accepted ${accepted.size} events over both floods (${a.ok + b.ok} webhooks)`);
  await stop(mb);
  await hec.close();

  if (!broker) return;
  await broker.topics('mem.');
  const ingress = await startEntrypoint({ KAFKA_BROKERS: broker.bootstrap, KAFKA_IDEMPOTENT: 'false', KAFKA_TOPIC_PREFIX: 'mem.', DATA_DIR: tmpDir(), MEMORY_LIMIT_MB: '256' }, 'ingress');
  const k = await flood(ingress, 30, 10_000, 40_000_000, new Set());
  record('256 MiB, Kafka ingress, 10× flood 30 s: out-of-memory exits', ingress.child.exitCode !== null || ingress.child.signalCode !== null ? 1 : 0, 'exits', null, '0');
  record('256 MiB, Kafka ingress, 10× flood: peak RSS', k.rss, 'MB', null, '<= 240');
  record('256 MiB, Kafka ingress, 10× flood: share of 503', k.shed / (k.ok + k.shed), 'ratio');
  await stop(ingress);
}

async function main() {
  const cpu = cpus()[0];
  console.log(`machine: ${cpus().length} x ${cpu ? cpu.model : 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`);
  const started = Date.now();
  // `node bench/run.js memory kafka` runs only those parts (and writes results/partial.json).
  const only = process.argv.slice(2);
  const part = (name) => only.length === 0 || only.includes(name);
  if (part('ingress')) await ingressBench();
  if (part('normalizer')) normalizerBench();
  if (part('embedded')) await endToEndEmbedded();
  if (part('redeliver')) await redeliverBench();
  const broker = part('memory') || part('kafka') ? await startBroker() : null;
  if (!broker && (part('memory') || part('kafka'))) console.log('Kafka benchmarks skipped: build the mock broker with test/tools/build.sh');
  if (part('memory')) await memoryBench(broker);
  if (broker && part('kafka')) await kafkaBenches(broker);
  if (broker) broker.stop();
  mkdirSync(join(__dirname, 'results'), { recursive: true });
  const out = { date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpu: cpu && cpu.model, seconds: (Date.now() - started) / 1000, results };
  const file = only.length === 0 ? 'latest.json' : 'partial.json';
  writeFileSync(join(__dirname, 'results', file), `${JSON.stringify(out, null, 2)}\n`);
  console.log(`wrote bench/results/${file} in ${out.seconds.toFixed(0)} s`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
