// Shared helpers for the benchmarks: processes, the fake HEC, signed bodies, RSS sampling.
const { spawn } = require('node:child_process');
const { createHmac } = require('node:crypto');
const { readFileSync } = require('node:fs');
const http = require('node:http');
const { join } = require('node:path');
const { createInterface } = require('node:readline');
const { gunzipSync } = require('node:zlib');

const ROOT = join(__dirname, '..');
const SECRET = 'bench-secret';

function sign(body) {
  return createHmac('sha256', SECRET).update(body).digest('hex');
}

/** Starts `node <script> args` and resolves once it logs its ready line with a port. */
function startNode(script, args, env, interpreter = process.execPath, cgroup = null) {
  const command = [interpreter, [script, ...args]];
  const child = spawn(...(cgroup ? cgroup.wrap(...command) : command), {
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: '0', ADMIN_PORT: '0', LOG_LEVEL: 'warn', MIST_WEBHOOK_SECRET: SECRET, HTTP_MAX_CONNECTIONS_PER_SOURCE: '100000', ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${script} did not start`)), 30000);
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        const entry = JSON.parse(line);
        if (entry.message === 'ready') {
          clearTimeout(timer);
          resolve({ child, ready: entry, port: entry.port, url: `http://127.0.0.1:${entry.port}`, adminUrl: `http://127.0.0.1:${entry.adminPort ?? entry.port}` });
        }
      } catch {
        // not a log line
      }
    });
  });
}

/** Runs mistbridge the way `npm start` and the container do (same V8 flags). */
function startMistbridge(env, roles = 'ingress,normalizer,splunk,metrics,correlator') {
  // LOG_LEVEL info: the ready line is an info line.
  return startNode(join(ROOT, 'dist', 'cli.js'), ['run', '--roles', roles], { LOG_LEVEL: 'info', NODE_OPTIONS: process.env.BENCH_NODE_OPTIONS ?? '--max-semi-space-size=4', ...env });
}

/** Runs mistbridge through the image's entry point (heap cap from MEMORY_LIMIT_MB or the cgroup), inside `cgroup` when given. */
function startEntrypoint(env, roles, cgroup = null) {
  return startNode(join(ROOT, 'scripts', 'docker-entrypoint.sh'), ['run', '--roles', roles], { LOG_LEVEL: 'info', ...env }, 'sh', cgroup);
}

async function stop(proc) {
  if (proc.child.exitCode !== null) return;
  const exited = new Promise((r) => proc.child.once('exit', r));
  proc.child.kill('SIGTERM');
  setTimeout(() => proc.child.kill('SIGKILL'), 15000).unref();
  await exited;
}

/** Peak resident set size (kB → MB) the kernel recorded for a process. */
function peakRssMb(pid) {
  let status;
  try {
    status = readFileSync(`/proc/${pid}/status`, 'utf8');
  } catch {
    return NaN; // the process has ended
  }
  const match = /VmHWM:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) / 1024 : NaN;
}

/** A minimal HEC that records when each event (by its bench sequence number) arrived. */
function startHec() {
  const arrivals = new Map();
  let events = 0;
  const state = { down: false };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
      if (state.down) {
        res.writeHead(503, { 'content-type': 'application/json' });
        res.end('{"text":"Server is busy","code":9}');
        return;
      }
      const now = performance.now();
      let body = Buffer.concat(chunks);
      if (req.headers['content-encoding'] === 'gzip') body = gunzipSync(body);
      for (const line of body.toString('utf8').split('\n')) {
        if (!line) continue;
        events++;
        const seq = /"bench_seq":"(\d+)"/.exec(line);
        if (seq && !arrivals.has(seq[1])) arrivals.set(seq[1], now);
      }
      res.writeHead(200, { 'content-type': 'application/json' });
      res.end('{"text":"Success","code":0}');
    });
  });
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () =>
      resolve({
        url: `http://127.0.0.1:${server.address().port}`,
        token: 'bench-token',
        arrivals,
        events: () => events,
        /** Splunk down: every request answers 503. */
        setDown: (down) => { state.down = down; },
        close: () => new Promise((r) => server.close(r)),
      }),
    ),
  );
}

/**
 * A webhook body of `count` device events, each tagged with a bench sequence number; each names its
 * own AP, or one of `devices` APs (an organisation's fleet). The body's site is one of `sites`
 * (Kafka partitions by site: one site is one partition).
 */
function webhookBody(firstSeq, count, devices = 0, sites = 1) {
  const site = Math.floor(firstSeq / count) % sites;
  const events = [];
  for (let i = 0; i < count; i++) {
    events.push({
      type: 'AP_DISCONNECTED',
      device_type: 'ap',
      mac: `5c5b35${String(devices ? (firstSeq + i) % devices : firstSeq + i).padStart(6, '0').slice(-6)}`,
      org_id: '2818e386-8dec-2562-9ede-5b8a0fbbdc71',
      site_id: `4ac1dcf4-9d8b-7211-65c4-${(0x057819f0862b + site).toString(16).padStart(12, '0')}`,
      site_name: 'HQ',
      timestamp: Math.floor(Date.now() / 1000),
      bench_seq: String(firstSeq + i),
    });
  }
  return Buffer.from(JSON.stringify({ topic: 'device-events', events }));
}

/**
 * A dense body: `count` device events of about 100 bytes each (the shape of the Memory issue's
 * 5.2 MB bodies of 50,000 events), each tagged with a bench sequence number, over `devices` APs.
 */
function denseBody(firstSeq, count, devices = 1000) {
  const now = Math.floor(Date.now() / 1000);
  const events = [];
  for (let i = 0; i < count; i++) {
    const mac = `5c5b35${String((firstSeq + i) % devices).padStart(6, '0')}`;
    events.push(`{"type":"AP_DISCONNECTED","mac":"${mac}","timestamp":${now},"bench_seq":"${firstSeq + i}"}`);
  }
  return Buffer.from(`{"topic":"device-events","events":[${events.join(',')}]}`);
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

module.exports = { ROOT, SECRET, sign, startNode, startMistbridge, startEntrypoint, stop, peakRssMb, startHec, webhookBody, denseBody, percentile };
