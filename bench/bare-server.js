// The ceiling for the ingress benchmark: node:http that verifies the HMAC, parses the JSON and answers.
const http = require('node:http');
const { createHmac, timingSafeEqual } = require('node:crypto');

const secret = process.env.MIST_WEBHOOK_SECRET;
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
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
    res.end(text);
  });
});
server.listen(0, '127.0.0.1', () => process.stdout.write(`${JSON.stringify({ message: 'ready', port: server.address().port })}\n`));
process.on('SIGTERM', () => server.close(() => process.exit(0)));
