import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { loadConfig } from '../../src/config/load';
import { HecClient } from '../../src/sinks/splunk-hec/client';
import { EVENT_PATH } from '../../src/sinks/splunk-hec/sink';

describe('HecClient', () => {
  it('appends the collector path to SPLUNK_HEC_URL, keeping a path prefix, and sends the Splunk token', async () => {
    const seen: Array<{ url?: string; authorization?: string }> = [];
    const server = http.createServer((req, res) => {
      seen.push({ url: req.url, authorization: req.headers.authorization });
      req.resume();
      req.on('end', () => res.end('{"text":"Success","code":0}'));
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const port = (server.address() as AddressInfo).port;
    try {
      for (const url of [`http://127.0.0.1:${port}/splunk/`, `http://127.0.0.1:${port}`]) {
        const config = loadConfig({ SPLUNK_HEC_URL: url, SPLUNK_HEC_TOKEN: 'tok' });
        const client = new HecClient(config.splunk!);
        expect((await client.post(EVENT_PATH, Buffer.from('{}'), {})).status).toBe(200);
        client.close();
      }
      expect(seen).toEqual([
        { url: '/splunk/services/collector/event', authorization: 'Splunk tok' },
        { url: '/services/collector/event', authorization: 'Splunk tok' },
      ]);
    } finally {
      server.close();
    }
  });
});
