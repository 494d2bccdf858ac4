// The ceiling of a durable 200: bare-server.js plus what a durable answer physically needs: append
// the body to a file and fsync it before answering, with the fsyncs group-committed (bodies that
// arrive while one fsync runs share the next), as the embedded journal does.
const http = require('node:http');
const { createHmac, timingSafeEqual } = require('node:crypto');
const { openSync, write, fsync } = require('node:fs');
const { join } = require('node:path');

const secret = process.env.MIST_WEBHOOK_SECRET;
const fd = openSync(join(process.env.DATA_DIR, 'journal'), 'a');
let waiting = [];
let syncing = false;

function commit() {
  if (syncing || waiting.length === 0) return;
  syncing = true;
  const batch = waiting;
  waiting = [];
  const bytes = Buffer.concat(batch.map((w) => w.body));
  write(fd, bytes, (err) => {
    if (err) throw err;
    fsync(fd, (err2) => {
      if (err2) throw err2;
      syncing = false;
      for (const w of batch) w.done();
      commit();
    });
  });
}

const server = http.createServer((req, res) => {
  const chunks = [];
  req.on('data', (c) => chunks.push(c));
  req.on('end', () => {
    const body = Buffer.concat(chunks);
    const given = Buffer.from(String(req.headers['x-mist-signature-v2'] || ''), 'hex');
    const expected = createHmac('sha256', secret).update(body).digest();
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) {
      res.writeHead(401).end();
      return;
    }
    const parsed = JSON.parse(body.toString('utf8'));
    const text = JSON.stringify({ accepted: parsed.events.length });
    waiting.push({
      body,
      done: () => {
        res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
        res.end(text);
      },
    });
    commit();
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ message: 'ready', port: server.address().port })}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
