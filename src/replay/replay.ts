import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { sign } from '../ingress/verify';

export interface ReplayOptions {
  url: string;
  secret: string | null;
  token: string | null;
  write?: (line: string) => void;
}

/** JSON files named by the paths (directories: their *.json files, sorted). */
export function collectFiles(paths: readonly string[]): string[] {
  return paths.flatMap((path) =>
    statSync(path).isDirectory()
      ? readdirSync(path)
          .filter((name) => name.endsWith('.json'))
          .sort()
          .map((name) => join(path, name))
      : [path],
  );
}

/**
 * Posts each file's bytes as Mist would: unchanged body, `X-Mist-Signature-v2` and
 * `X-Mist-Signature` over those bytes, the bearer token when one is configured.
 * Returns the number of files the ingress did not accept.
 */
export async function replay(files: readonly string[], options: ReplayOptions): Promise<number> {
  const write = options.write ?? ((line: string) => process.stdout.write(`${line}\n`));
  let failed = 0;
  for (const file of files) {
    const body = readFileSync(file);
    const headers: Record<string, string> = { 'content-type': 'application/json', 'user-agent': 'Mist-webhook' };
    if (options.secret) {
      headers['x-mist-signature-v2'] = sign(body, options.secret, 'sha256');
      headers['x-mist-signature'] = sign(body, options.secret, 'sha1');
    }
    if (options.token) headers.authorization = `Bearer ${options.token}`;
    try {
      const response = await fetch(options.url, { method: 'POST', headers, body });
      const text = await response.text();
      if (response.status !== 200) failed++;
      write(`${response.status} ${file} ${text}`);
    } catch (err) {
      failed++;
      write(`ERR ${file} ${(err as Error).message}`);
    }
  }
  return failed;
}
