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
function startNode(script, args, env) {
  const child = spawn(process.execPath, [script, ...args], {
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
          resolve({ child, port: entry.port, url: `http://127.0.0.1:${entry.port}`, adminUrl: `http://127.0.0.1:${entry.adminPort ?? entry.port}` });
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

async function stop(proc) {
  if (proc.child.exitCode !== null) return;
  const exited = new Promise((r) => proc.child.once('exit', r));
  proc.child.kill('SIGTERM');
  setTimeout(() => proc.child.kill('SIGKILL'), 15000).unref();
  await exited;
}

/** Peak resident set size (kB → MB) the kernel recorded for a process. */
function peakRssMb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const match = /VmHWM:\s+(\d+) kB/.exec(status);
  return match ? Number(match[1]) / 1024 : NaN;
}

/** A minimal HEC that records when each event (by its bench sequence number) arrived. */
function startHec() {
  const arrivals = new Map();
  let events = 0;
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => {
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
        close: () => new Promise((r) => server.close(r)),
      }),
    ),
  );
}

/** A webhook body of `count` distinct device events, each tagged with a bench sequence number. */
function webhookBody(firstSeq, count) {
  const events = [];
  for (let i = 0; i < count; i++) {
    events.push({
      type: 'AP_DISCONNECTED',
      device_type: 'ap',
      mac: `5c5b35${String(firstSeq + i).padStart(6, '0').slice(-6)}`,
      org_id: '2818e386-8dec-2562-9ede-5b8a0fbbdc71',
      site_id: '4ac1dcf4-9d8b-7211-65c4-057819f0862b',
      site_name: 'HQ',
      timestamp: Math.floor(Date.now() / 1000),
      bench_seq: String(firstSeq + i),
    });
  }
  return Buffer.from(JSON.stringify({ topic: 'device-events', events }));
}

function percentile(sorted, p) {
  if (sorted.length === 0) return NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))];
}

module.exports = { ROOT, SECRET, sign, startNode, startMistbridge, stop, peakRssMb, startHec, webhookBody, percentile };
