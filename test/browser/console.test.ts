import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { FakeHec, HEC_REPLIES } from '../helpers/fake-hec';
import { sampleJson } from '../helpers/fixtures';
import { postWebhook, startPipeline } from '../helpers/pipeline';

/**
 * The console in a real browser (Debian's chromium driven by playwright-core) against a live
 * mistbridge on loopback. Waits are generous liveness checks (the page polls every few seconds),
 * never timings.
 */
const CHROMIUM = '/usr/bin/chromium';
const available = existsSync(CHROMIUM) && existsSync(join(__dirname, '..', '..', 'dist', 'web', 'app.js'));
if (!available) {
  if (process.env.CI === 'true') throw new Error(`CI=true requires ${CHROMIUM} (Debian package chromium) and a built console (npm run build)`);
  console.warn(`skipping the console browser tests: ${CHROMIUM} (Debian package chromium) or dist/web (npm run build) is missing`);
}

const LIVE = 15_000;
const ORG = '09dac91f-6e73-4100-89f7-698e0fafbb1b';
const alarm = (file: string, patch: Record<string, unknown> = {}): string => {
  const body = sampleJson(file);
  return JSON.stringify({ ...body, events: body.events.map((e) => ({ ...e, timestamp: Math.floor(Date.now() / 1000), ...patch })) });
};

(available ? describe : describe.skip)('the console in a browser', () => {
  jest.setTimeout(90_000);
  let browser: Browser;
  let pipeline: Awaited<ReturnType<typeof startPipeline>> | null = null;
  const errors: string[] = [];

  beforeAll(async () => {
    browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  });
  afterAll(async () => {
    await browser?.close();
  });
  afterEach(async () => {
    await pipeline?.stop();
    pipeline = null;
  });

  async function open(url: string): Promise<Page> {
    const page = await browser.newPage();
    page.on('console', (message) => {
      if (message.type() === 'error') errors.push(message.text());
    });
    page.on('pageerror', (err) => errors.push(err.message));
    page.on('dialog', (dialog) => {
      errors.push(`a dialog opened: ${dialog.message()}`);
      void dialog.dismiss();
    });
    await page.goto(url);
    return page;
  }

  it('shows webhooks live, incidents and devices as they open and resolve, dead letters redriven and purged from the page; Mist strings as text', async () => {
    const hec = await new FakeHec().start();
    pipeline = await startPipeline({ SPLUNK_HEC_URL: hec.url, SPLUNK_HEC_TOKEN: hec.token, SPLUNK_HEC_LINGER_MS: '5', INCIDENT_UPDATE_MIN_S: '0' });
    const page = await open(`${pipeline.adminUrl}/`);
    await page.locator('#views').waitFor({ state: 'visible' });
    await page.locator('#live-state', { hasText: 'live' }).waitFor();

    // Live: a webhook posted after the page opened
    expect((await postWebhook(pipeline.url, alarm('alarms__device-down-alarmdef.json'))).status).toBe(200);
    await page.locator('#events tr', { hasText: 'device_down' }).first().waitFor({ timeout: LIVE });

    // Incidents and devices: the device down, then gone on its reconnection
    await page.locator('#incident-rows tr').first().waitFor({ timeout: LIVE });
    await page.locator('#device-rows tr', { hasText: 'down' }).first().waitFor({ timeout: LIVE });
    expect(await page.locator('#device-rows tr').first().textContent()).toMatch(/^down/); // devices down first
    // the same AP reconnects, a moment later
    expect((await postWebhook(pipeline.url, alarm('alarms__device-reconnected-alarmdef.json', { aps: ['d420b02000fa'], timestamp: Math.floor(Date.now() / 1000) + 1 }))).status).toBe(200);
    await page.locator('#incident-rows tr').first().waitFor({ state: 'detached', timeout: LIVE });

    // A rogue AP whose SSID is markup: rendered as text, never run
    const xss = '<img src=x onerror=alert(1)>';
    expect((await postWebhook(pipeline.url, alarm('alarms__security-rogue-ap-alarmdef.json', { org_id: ORG, ssids: [xss], hostnames: [xss] }))).status).toBe(200);
    const rogue = page.locator('#events tr', { hasText: 'rogue_ap' }).first();
    await rogue.waitFor({ timeout: LIVE });
    await rogue.click();
    expect(await page.locator('#event-detail').textContent()).toContain(xss);
    expect(await page.locator('#event-detail').textContent()).toContain('as Mist sent it'); // PRIVACY_MODE=off: the raw event beside
    expect(await page.locator('img').count()).toBe(0);

    // A dead letter: Splunk refuses one event; it appears, is redriven from the page, and leaves
    hec.script.push(HEC_REPLIES.invalidFormat(0));
    expect((await postWebhook(pipeline.url, alarm('alarms__device-restarted-alarmdef.json'))).status).toBe(200);
    const letter = page.locator('#dlq-rows tr', { hasText: 'hec_rejected' }).first();
    await letter.waitFor({ timeout: LIVE });
    await letter.getByRole('button', { name: 'Redrive' }).click();
    await letter.waitFor({ state: 'detached', timeout: LIVE });
    await page.locator('#dlq-state', { hasText: 'redriven' }).waitFor();

    // Another letter, then purge older than 0 hours: every letter (the redriven one too) is gone
    hec.script.push(HEC_REPLIES.invalidFormat(0));
    expect((await postWebhook(pipeline.url, alarm('alarms__device-restarted-alarmdef.json', { id: 'second-restart' }))).status).toBe(200);
    const second = page.locator('#dlq-rows tr', { hasText: 'hec_rejected' }).first();
    await second.waitFor({ timeout: LIVE });
    await page.locator('#dlq-hours').fill('0');
    await page.locator('#dlq-purge').click();
    await page.locator('#dlq-state', { hasText: 'purged letters older than 0 h' }).waitFor();
    await second.waitFor({ state: 'detached', timeout: LIVE });
    expect(await (await fetch(`${pipeline.adminUrl}/api/dlq?all=true`)).json()).toEqual([]);

    expect(errors).toEqual([]);
    await hec.stop();
  });

  it('with API_TOKEN, shows nothing before the token; the page is served with a strict Content-Security-Policy', async () => {
    pipeline = await startPipeline({ API_TOKEN: 'console-token' });
    const response = await fetch(`${pipeline.adminUrl}/`);
    expect(response.headers.get('content-security-policy')).toMatch(/default-src 'self'.*frame-ancestors 'none'/);
    const page = await open(`${pipeline.adminUrl}/`);
    await page.locator('#token-form').waitFor({ state: 'visible' });
    expect(await page.locator('#views').isVisible()).toBe(false);
    expect(await page.locator('#summary dt').count()).toBe(0);
    await page.locator('#token').fill('wrong');
    await page.locator('#token-form button').click();
    await page.locator('#token-error', { hasText: 'refused' }).waitFor();
    await page.locator('#token').fill('console-token');
    await page.locator('#token-form button').click();
    await page.locator('#views').waitFor({ state: 'visible' });
    await page.locator('#summary dt', { hasText: 'ready' }).waitFor();
    // the token never reaches a URL or a cookie
    expect(page.url()).not.toContain('console-token');
    expect(await page.context().cookies()).toEqual([]);
    expect(errors.filter((e) => !/401/.test(e))).toEqual([]);
  });
});
