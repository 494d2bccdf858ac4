import { backlogBytes, heapMb, memoryBudget } from '../../../src/config/memory';
import { loadConfig } from '../../../src/config/load';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** CONTRACT section 2, MEMORY_LIMIT_MB: the variable, else the cgroup (v2, then v1), else none. */
describe('the memory budget', () => {
  const files = (entries: Record<string, string>) => (path: string): string => {
    if (path in entries) return entries[path]!;
    throw Object.assign(new Error('ENOENT'), { code: 'ENOENT' });
  };

  it('takes MEMORY_LIMIT_MB first, then cgroup v2 memory.max, then v1 memory.limit_in_bytes', () => {
    const both = files({ '/sys/fs/cgroup/memory.max': String(512 * 2 ** 20), '/sys/fs/cgroup/memory/memory.limit_in_bytes': String(128 * 2 ** 20) });
    expect(memoryBudget({ MEMORY_LIMIT_MB: '256' }, both)).toEqual({ mb: 256, source: 'MEMORY_LIMIT_MB' });
    expect(memoryBudget({}, both)).toEqual({ mb: 512, source: 'cgroup v2 memory.max' });
    expect(memoryBudget({}, files({ '/sys/fs/cgroup/memory/memory.limit_in_bytes': String(128 * 2 ** 20) }))).toEqual({ mb: 128, source: 'cgroup v1 memory.limit_in_bytes' });
  });

  it('knows "no limit" in both cgroup versions', () => {
    expect(memoryBudget({}, files({ '/sys/fs/cgroup/memory.max': 'max\n' }))).toBeNull();
    expect(memoryBudget({}, files({ '/sys/fs/cgroup/memory/memory.limit_in_bytes': '9223372036854771712' }))).toBeNull();
    expect(memoryBudget({}, files({}))).toBeNull();
  });

  it('reads a real cgroup file, and bounds the backlog from it unless the bounds are set', () => {
    const root = mkdtempSync(join(tmpdir(), 'mistbridge-cgroup-'));
    mkdirSync(join(root, 'memory'));
    writeFileSync(join(root, 'memory.max'), `${256 * 2 ** 20}\n`);
    const config = loadConfig({ MISTBRIDGE_CGROUP_ROOT: root });
    expect(config.memoryBudget).toEqual({ mb: 256, source: 'cgroup v2 memory.max' });
    expect(config.ingress.maxBacklogBytes).toBe(backlogBytes(256));
    expect(config.ingress.maxBacklogBytes).toBeLessThan(64 * 2 ** 20);
    expect(loadConfig({ MISTBRIDGE_CGROUP_ROOT: root, INGRESS_MAX_BACKLOG_BYTES: '1048576' }).ingress.maxBacklogBytes).toBe(1048576);
    expect(heapMb(256)).toBe(129);
    // heap cap + backlog bound + the fixed part fit the budget, whatever its size
    for (const mb of [96, 128, 256, 512, 1024]) expect(heapMb(mb) + backlogBytes(mb) / 2 ** 20 + 40).toBeLessThanOrEqual(mb);
  });
});
