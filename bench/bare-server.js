// The ceilings for the ingress benchmark: node:http that verifies the HMAC, parses the JSON and
// answers. With DURABLE_DIR set, also what a durable 200 physically needs: the body appended to a
// file and fsynced before the answer, fsyncs group-committed (bodies that arrive while one fsync
// runs share the next), as the embedded journal does.
const http = require('node:http');
const { createHmac, timingSafeEqual } = require('node:crypto');
const { openSync, write, fsync } = require('node:fs');
const { join } = require('node:path');

const secret = process.env.MIST_WEBHOOK_SECRET;
const durable = process.env.DURABLE_DIR ? groupCommit(openSync(join(process.env.DURABLE_DIR, 'journal'), 'a')) : null;

function groupCommit(fd) {
  let waiting = [];
  let syncing = false;
  const commit = () => {
    if (syncing || waiting.length === 0) return;
    syncing = true;
    const batch = waiting;
    waiting = [];
    write(fd, Buffer.concat(batch.map((w) => w.body)), (err) => {
      if (err) throw err;
      fsync(fd, (err2) => {
        if (err2) throw err2;
        syncing = false;
        for (const w of batch) w.done();
        commit();
      });
    });
  };
  return (body, done) => {
    waiting.push({ body, done });
    commit();
  };
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
    const answer = () => {
      res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    };
    if (durable) durable(body, answer);
    else answer();
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ message: 'ready', port: server.address().port })}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
