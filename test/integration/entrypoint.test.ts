import { mkdtempSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { heapMb } from '../../src/config/memory';
import { startProcess } from '../helpers/process';

/**
 * The image's entry point (scripts/docker-entrypoint.sh, CONTRACT section 2 MEMORY_LIMIT_MB): Node
 * gets the heap cap of the budget, read from the variable or from the cgroup file; the shell
 * `exec`s Node, so the container's PID is Node itself: signals and the exit code are Node's, and a
 * kill -9 leaves no child behind.
 */
const isLinux = process.platform === 'linux';
const cmdline = (pid: number): string[] => readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean);
const childrenOf = (pid: number): number[] =>
  readdirSync('/proc')
    .filter((d) => /^\d+$/.test(d))
    .filter((d) => {
      try {
        return Number(readFileSync(`/proc/${d}/stat`, 'utf8').split(') ')[1]!.split(' ')[1]) === pid;
      } catch {
        return false; // ended meanwhile
      }
    })
    .map(Number);

(isLinux ? describe : describe.skip)('the image entry point', () => {
  const env = (extra: Record<string, string>) => ({ DATA_DIR: mkdtempSync(join(tmpdir(), 'mistbridge-entry-')), MIST_WEBHOOK_SECRET: 'entrypoint-secret', ...extra });

  it('caps the heap from the cgroup file, execs Node (SIGTERM → exit 0)', async () => {
    const cgroup = mkdtempSync(join(tmpdir(), 'mistbridge-cgroup-'));
    writeFileSync(join(cgroup, 'memory.max'), `${384 * 2 ** 20}\n`);
    const p = await startProcess(env({ MISTBRIDGE_CGROUP_ROOT: cgroup }), ['run', '--roles', 'ingress,normalizer'], undefined, { entrypoint: true });
    const argv = cmdline(p.child.pid!);
    expect(argv[0]).toMatch(/node$/);
    expect(argv).toContain(`--max-old-space-size=${heapMb(384)}`);
    const ready = p.logs.find((l) => l.message === 'ready')!;
    expect(ready).toMatchObject({ memory_budget_mb: 384, memory_budget_from: 'cgroup v2 memory.max' });
    expect(Number(ready.heap_limit_mb)).toBeLessThan(heapMb(384) + 48);
    expect(childrenOf(p.child.pid!)).toEqual([]);
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it('takes MEMORY_LIMIT_MB from the YAML file as the process does', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'mistbridge-entry-yaml-'));
    writeFileSync(join(dir, 'mistbridge.yaml'), 'MEMORY_LIMIT_MB: 192\n');
    const p = await startProcess(env({ MISTBRIDGE_CGROUP_ROOT: dir, MISTBRIDGE_CONFIG: join(dir, 'mistbridge.yaml') }), ['run', '--roles', 'ingress,normalizer'], undefined, { entrypoint: true });
    expect(cmdline(p.child.pid!)).toContain(`--max-old-space-size=${heapMb(192)}`);
    expect(p.logs.find((l) => l.message === 'ready')).toMatchObject({ memory_budget_mb: 192, memory_budget_from: 'MEMORY_LIMIT_MB' });
    p.child.kill('SIGTERM');
    expect(await p.exited).toBe(0);
  });

  it('takes MEMORY_LIMIT_MB over the cgroup, and a kill -9 leaves nothing behind', async () => {
    const cgroup = mkdtempSync(join(tmpdir(), 'mistbridge-cgroup-'));
    writeFileSync(join(cgroup, 'memory.max'), `${1024 * 2 ** 20}\n`);
    const p = await startProcess(env({ MISTBRIDGE_CGROUP_ROOT: cgroup, MEMORY_LIMIT_MB: '256' }), ['run', '--roles', 'ingress,normalizer'], undefined, { entrypoint: true });
    expect(cmdline(p.child.pid!)).toContain(`--max-old-space-size=${heapMb(256)}`);
    expect(p.logs.find((l) => l.message === 'ready')).toMatchObject({ memory_budget_mb: 256, memory_budget_from: 'MEMORY_LIMIT_MB' });
    // The PID a kill -9 hits is Node itself, with no child of its own to orphan.
    expect(cmdline(p.child.pid!)[0]).toMatch(/node$/);
    expect(childrenOf(p.child.pid!)).toEqual([]);
    p.child.kill('SIGKILL');
    expect(await p.exited).toBeNull();
  });
});
