import { readFileSync, readdirSync } from 'node:fs';
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
