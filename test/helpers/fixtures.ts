import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const SAMPLES_DIR = join(__dirname, '..', 'fixtures', 'samples');

/** Every Mist sample body (real and official payloads, see fixtures/samples/PROVENANCE.md). */
export function sampleFiles(): string[] {
  return readdirSync(SAMPLES_DIR).filter((f) => f.endsWith('.json')).sort();
}

export function sample(name: string): Buffer {
  return readFileSync(join(SAMPLES_DIR, name));
}

export function sampleJson(name: string): { topic: string; events: Array<Record<string, unknown>> } {
  return JSON.parse(sample(name).toString('utf8')) as { topic: string; events: Array<Record<string, unknown>> };
}

/** Waits until `check` holds, polling; fails with `what` after `timeoutMs`. */
export async function eventually(check: () => boolean | Promise<boolean>, what: string, timeoutMs = 15000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** Every record of a paged API listing (CONTRACT section 3): follows `Link: <…>; rel="next"` to its end. */
export async function allPages<T>(url: string, init: RequestInit = {}): Promise<{ records: T[]; pages: number }> {
  const origin = new URL(url).origin;
  const records: T[] = [];
  let pages = 0;
  for (let next: string | null = url; next; pages++) {
    const response: Response = await fetch(next, init);
    if (response.status !== 200) throw new Error(`${next}: HTTP ${response.status} ${await response.text()}`);
    records.push(...((await response.json()) as T[]));
    const link = /<([^>]+)>;\s*rel="next"/.exec(response.headers.get('link') ?? '');
    next = link ? `${origin}${link[1]}` : null;
  }
  return { records, pages };
}

/** `text` written to `name` in a new temporary directory (a YAML config, a secrets file); its path. */
export function tempFile(name: string, text: string): string {
  const path = join(mkdtempSync(join(tmpdir(), 'mistbridge-file-')), name);
  writeFileSync(path, text);
  return path;
}
