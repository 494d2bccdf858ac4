#!/usr/bin/env node
// npm run docs:screenshots: the README's picture of the console (docs/console.png), made from the
// sample replay against a real mistbridge on loopback, in Debian's chromium. Not part of npm test:
// tests never write into the tree.
const { spawn } = require('node:child_process');
const { createHmac } = require('node:crypto');
const { mkdirSync, mkdtempSync, readFileSync } = require('node:fs');
const { tmpdir } = require('node:os');
const { join } = require('node:path');
const { createInterface } = require('node:readline');
const { chromium } = require('playwright-core');

const ROOT = join(__dirname, '..');
const SECRET = 'screenshot-secret';
const SAMPLES = ['alarms__device-down-alarmdef.json', 'alarms__security-rogue-ap-alarmdef.json', 'device-events__ap-restart-sequence-real.json', 'audits__update-site-settings-before-after.json', 'alarms__switch-down-alarmdef.json'];

function start() {
  const child = spawn(process.execPath, [join(ROOT, 'dist', 'cli.js'), 'run'], {
    env: { PATH: process.env.PATH, HOST: '127.0.0.1', PORT: '0', ADMIN_PORT: '0', LOG_LEVEL: 'info', MIST_WEBHOOK_SECRET: SECRET, DATA_DIR: mkdtempSync(join(tmpdir(), 'mistbridge-shot-')) },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  return new Promise((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`mistbridge exited with ${code}`)));
    createInterface({ input: child.stdout }).on('line', (line) => {
      try {
        const entry = JSON.parse(line);
        if (entry.message === 'ready') resolve({ child, url: `http://127.0.0.1:${entry.port}`, admin: `http://127.0.0.1:${entry.adminPort}` });
      } catch {
        // not a log line
      }
    });
  });
}

async function post(url, file) {
  const body = readFileSync(join(ROOT, 'test', 'fixtures', 'samples', file));
  const now = Math.floor(Date.now() / 1000);
  const fresh = JSON.parse(body.toString());
  fresh.events = fresh.events.map((e) => ({ ...e, timestamp: now }));
  const text = JSON.stringify(fresh);
  await fetch(`${url}/webhooks/mist`, { method: 'POST', headers: { 'content-type': 'application/json', 'x-mist-signature-v2': createHmac('sha256', SECRET).update(text).digest('hex') }, body: text });
}

(async () => {
  const mb = await start();
  const browser = await chromium.launch({ executablePath: '/usr/bin/chromium', headless: true, args: ['--no-sandbox'] });
  try {
    const page = await browser.newPage({ viewport: { width: 1200, height: 1500 } });
    await page.goto(`${mb.admin}/`);
    await page.locator('#live-state', { hasText: 'live' }).waitFor();
    for (const file of SAMPLES) await post(mb.url, file).catch(() => undefined);
    await page.locator('#incident-rows tr').first().waitFor({ timeout: 15_000 });
    await page.waitForTimeout(1500);
    mkdirSync(join(ROOT, 'docs'), { recursive: true });
    await page.screenshot({ path: join(ROOT, 'docs', 'console.png'), fullPage: false });
    console.log('wrote docs/console.png');
  } finally {
    await browser.close();
    mb.child.kill('SIGTERM');
  }
})().catch((err) => {
  console.error(err);
  process.exit(1);
});
