#!/usr/bin/env node
// npm run bench: ingress, normalizer, end to end, memory and scaling figures, each beside its ceiling.
// Prints a table and writes bench/results/latest.json. Needs `npm run build` (done by the npm script).
const { spawn } = require('node:child_process');
const { existsSync, mkdirSync, readFileSync, readdirSync, writeFileSync } = require('node:fs');
const { cpus, totalmem } = require('node:os');
const { join } = require('node:path');
const autocannon = require('autocannon');
const { ROOT, SECRET, sign, startNode, startMistbridge, stop, peakRssMb, startHec, webhookBody, percentile } = require('./lib');

const results = [];
function record(name, value, unit, ceiling = null, target = null) {
  const ratio = ceiling ? value / ceiling : null;
  results.push({ name, value, unit, ceiling, ratio, target });
  const fmt = (v) => (v === null ? '' : Number.isFinite(v) ? (Math.abs(v) >= 100 ? v.toFixed(0) : v.toFixed(2)) : String(v));
  console.log(`${name.padEnd(58)} ${fmt(value).padStart(10)} ${unit.padEnd(8)} ${ceiling === null ? '' : `ceiling ${fmt(ceiling)}  ratio ${fmt(ratio)}`}${target ? `  target ${target}` : ''}`);
}
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const tmpDir = () => require('node:fs').mkdtempSync(join(require('node:os').tmpdir(), 'mistbridge-bench-'));

async function cannon(url, body, seconds) {
  const result = await autocannon({
    url: `${url}/webhooks/mist`,
    method: 'POST',
    connections: 50,
    duration: seconds,
    headers: { 'content-type': 'application/json', 'x-mist-signature-v2': sign(body) },
    body,
  });
  const ok = result['2xx'];
  return { rps: ok / (result.duration || seconds), p50: result.latency.p50, p99: result.latency.p99, non2xx: result.non2xx };
}

async function ingressBench() {
  const body = readFileSync(join(ROOT, 'test', 'fixtures', 'samples', 'alarms__device-restarted-alarmdef.json'));
  const bare = await startNode(join(__dirname, 'bare-server.js'), [], {});
  await cannon(bare.url, body, 2); // warm-up
  const ceiling = await cannon(bare.url, body, 10);
  await stop(bare);
  const mb = await startMistbridge({ DATA_DIR: tmpDir() }, 'ingress,normalizer,metrics');
  await cannon(mb.url, body, 2);
  const ours = await cannon(mb.url, body, 10);
  await stop(mb);
  record('ingress: signed webhooks/s (2xx only, 50 connections)', ours.rps, 'req/s', ceiling.rps, '>= 0.45');
  record('ingress: p50 latency', ours.p50, 'ms', ceiling.p50);
  record('ingress: p99 latency', ours.p99, 'ms', ceiling.p99);
}

function normalizerBench() {
  const { normalizeWebhook } = require(join(ROOT, 'dist', 'normalizer', 'normalize.js'));
  const { eventCodec } = require(join(ROOT, 'dist', 'normalizer', 'worker.js'));
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
async function steady(mb, hec, rate, seconds, firstSeq) {
  const perBody = 10;
  const intervalMs = (1000 * perBody) / rate;
  const sent = new Map();
  let seq = firstSeq;
  const started = performance.now();
  const inflight = [];
  while (performance.now() - started < seconds * 1000) {
    const body = webhookBody(seq, perBody);
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

async function saturate(mb, hec, seconds, firstSeq) {
  let seq = firstSeq;
  let accepted = 0;
  const before = hec.events();
  const started = performance.now();
  const worker = async () => {
    while (performance.now() - started < seconds * 1000) {
      const body = webhookBody(seq, 10);
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
  const flood = await floodBench(mb, sat.nextSeq);
  record('memory: peak RSS after a 10x flood (503s shed it)', flood.rss, 'MB');
  record('memory: flood answers 200 / 503', flood.shed === 0 ? flood.ok : flood.ok / flood.shed, flood.shed === 0 ? 'all 200' : 'ratio');
  record('memory: /healthz p99 during the flood', flood.healthP99, 'ms');
  await stop(mb);
  await hec.close();
}

/** Ten times the steady rate with no pacing, while /healthz is polled. */
async function floodBench(mb, firstSeq) {
  let seq = firstSeq;
  let ok = 0;
  let shed = 0;
  const health = [];
  const started = performance.now();
  let running = true;
  const poll = (async () => {
    while (running) {
      const t = performance.now();
      await fetch(`${mb.url}/healthz`).then((r) => r.arrayBuffer());
      health.push(performance.now() - t);
      await sleep(50);
    }
  })();
  const worker = async () => {
    while (performance.now() - started < 10000) {
      const body = webhookBody(seq, 100);
      seq += 100;
      const r = await fetch(`${mb.url}/webhooks/mist`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-mist-signature-v2': sign(body) }, body });
      await r.arrayBuffer();
      if (r.status === 200) ok++;
      else shed++;
    }
  };
  await Promise.all(Array.from({ length: 64 }, worker));
  running = false;
  await poll;
  return { ok, shed, rss: peakRssMb(mb.child.pid), healthP99: percentile(health.sort((a, b) => a - b), 99) };
}

async function startBroker() {
  const binary = join(ROOT, 'test', 'tools', 'bin', 'kafka-mock');
  if (!existsSync(binary)) return null;
  const child = spawn(binary, ['1', 'mist.raw:4', 'mist.events:4', 'mist.incidents:4', 'mist.dlq:2'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const bootstrap = await new Promise((resolve, reject) => {
    child.once('exit', () => reject(new Error('kafka-mock exited')));
    require('node:readline').createInterface({ input: child.stdout }).on('line', (l) => l.startsWith('BOOTSTRAP ') && resolve(l.slice(10)));
  });
  return { child, bootstrap, stop: () => child.stdin.end() };
}

async function kafkaBenches() {
  const broker = await startBroker();
  if (!broker) {
    console.log('kafka benchmarks skipped: build the mock broker with test/tools/build.sh');
    return;
  }
  const kafkaEnv = { KAFKA_BROKERS: broker.bootstrap, KAFKA_IDEMPOTENT: 'false' };
  const hec = await startHec();
  const mb = await startMistbridge({ ...kafkaEnv, DATA_DIR: tmpDir(), SPLUNK_HEC_URL: hec.url, SPLUNK_HEC_TOKEN: hec.token, SPLUNK_HEC_LINGER_MS: '100' });
  await sleep(8000); // consumer groups join
  let seq = 10_000_000;
  const warm = await steady(mb, hec, 1000, 3, seq);
  const run = await steady(mb, hec, 1000, 15, warm.nextSeq);
  record('end to end, Kafka (mock broker): p99 200→HEC at 1,000 ev/s', percentile(run.latencies, 99), 'ms');
  record('end to end, Kafka: events delivered / accepted', run.delivered / run.sent, 'ratio');
  const sat = await saturate(mb, hec, 10, run.nextSeq);
  record('end to end, Kafka: saturation throughput', sat.eventsPerSecond, 'ev/s');
  await stop(mb);
  await hec.close();

  // Scaling: the same backlog of raw webhooks drained by one, then two normalizer processes.
  const drain = async (normalizers, prefix) => {
    const env = { ...kafkaEnv, KAFKA_TOPIC_PREFIX: prefix, DATA_DIR: tmpDir() };
    const ingress = await startMistbridge(env, 'ingress');
    for (let i = 0; i < 2000; i++) {
      const body = webhookBody(20_000_000 + i * 10, 10);
      const r = await fetch(`${ingress.url}/webhooks/mist`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-mist-signature-v2': sign(body) }, body });
      await r.arrayBuffer();
    }
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
  for (const topic of ['a.raw', 'a.events', 'a.incidents', 'a.dlq', 'b.raw', 'b.events', 'b.incidents', 'b.dlq']) {
    broker.child.stdin.write(`topic ${topic} 4\n`);
  }
  await sleep(500);
  const one = await drain(1, 'a.');
  const two = await drain(2, 'b.');
  record('scaling: 20,000 events drained by 1 normalizer (incl. group join)', one, 'ev/s');
  record('scaling: the same by 2 normalizers (incl. group join)', two, 'ev/s', one);
  broker.stop();
}

async function main() {
  const cpu = cpus()[0];
  console.log(`machine: ${cpus().length} x ${cpu ? cpu.model : 'cpu'}, ${(totalmem() / 2 ** 30).toFixed(0)} GiB, node ${process.version}`);
  const started = Date.now();
  await ingressBench();
  normalizerBench();
  await endToEndEmbedded();
  await kafkaBenches();
  mkdirSync(join(__dirname, 'results'), { recursive: true });
  const out = { date: new Date().toISOString(), node: process.version, cpus: cpus().length, cpu: cpu && cpu.model, seconds: (Date.now() - started) / 1000, results };
  writeFileSync(join(__dirname, 'results', 'latest.json'), `${JSON.stringify(out, null, 2)}\n`);
  console.log(`wrote bench/results/latest.json in ${out.seconds.toFixed(0)} s`);
}

main().then(
  () => process.exit(0),
  (err) => {
    console.error(err);
    process.exit(1);
  },
);
