import { spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { CLI } from '../helpers/process';

/** Runs the built CLI to its end (start-up failures exit before listening). */
function cli(args: string[], env: Record<string, string> = {}): { status: number | null; stderr: string; stdout: string } {
  const result = spawnSync(process.execPath, [CLI, ...args], {
    env: { PATH: process.env.PATH ?? '', PORT: '0', ADMIN_PORT: '0', HOST: '127.0.0.1', ...env },
    encoding: 'utf8',
    timeout: 20_000,
  });
  return { status: result.status, stderr: result.stderr, stdout: result.stdout };
}

describe('start-up and usage errors: exit 2 with what to fix', () => {
  it('a DATA_DIR that cannot be used names the variable and the OS reason, without a stack trace', () => {
    const parent = mkdtempSync(join(tmpdir(), 'mistbridge-cli-'));
    const file = join(parent, 'not-a-directory');
    writeFileSync(file, 'x');
    const result = cli(['run'], { DATA_DIR: file, MIST_WEBHOOK_SECRET: 's' });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/DATA_DIR: cannot use .*not-a-directory: (ENOTDIR|EEXIST)/);
    expect(result.stderr).not.toMatch(/\n\s+at /);
  });

  it('refuses an ingress without the normalizer on the embedded bus, naming MISTBRIDGE_ROLES and KAFKA_BROKERS', () => {
    const result = cli(['run', '--roles', 'ingress'], { DATA_DIR: mkdtempSync(join(tmpdir(), 'mistbridge-cli-')), MIST_WEBHOOK_SECRET: 's' });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/MISTBRIDGE_ROLES.*KAFKA_BROKERS/);
  });

  it('treats --roles without a value as a usage error (it used to run every role)', () => {
    const result = cli(['run', '--roles'], { DATA_DIR: mkdtempSync(join(tmpdir(), 'mistbridge-cli-')) });
    expect(result.status).toBe(2);
    expect(result.stderr).toMatch(/--roles: needs a value/);
  });
});
