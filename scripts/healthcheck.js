// The image's HEALTHCHECK: GET /healthz on the admin port (ADMIN_PORT, default 8081), which is plain
// HTTP even when TLS_CERT_FILE puts the webhook port on HTTPS. When ADMIN_PORT equals PORT there
// is one port for everything, HTTPS with TLS_CERT_FILE (the certificate is the server's own name,
// not 127.0.0.1's, so it is not verified here). Exit 0 healthy, 1 not.
const http = require('node:http');
const https = require('node:https');

const env = process.env;
const port = Number(env.ADMIN_PORT || 8081);
const onePort = port === Number(env.PORT || 8080);
const client = onePort && env.TLS_CERT_FILE ? https : http;
const request = client.get({ host: '127.0.0.1', port, path: '/healthz', timeout: 2500, rejectUnauthorized: false }, (response) => {
  response.resume();
  process.exit(response.statusCode === 200 ? 0 : 1);
});
request.on('timeout', () => request.destroy(new Error('timeout')));
request.on('error', () => process.exit(1));
