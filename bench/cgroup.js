'use strict';
// A real memory cgroup (v1 memory controller, or v2 with the memory controller) for one process
// tree: the kernel kills what exceeds the limit, and counts it. Used by `npm run bench` and by the
// tests that prove the memory budget (test/integration/memory-cgroup.test.ts). Needs root.
const { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } = require('node:fs');
const { join } = require('node:path');

const V1_ROOT = '/sys/fs/cgroup/memory';
const V2_ROOT = '/sys/fs/cgroup';

/** This process's own memory cgroup directory (children are made under it), or why there is none. */
function ownMemoryCgroup() {
  let lines;
  try {
    lines = readFileSync('/proc/self/cgroup', 'utf8').trim().split('\n');
  } catch (err) {
    return { error: `no /proc/self/cgroup (${err.message})` };
  }
  // v1: "4:memory:/path"; v2 (unified): "0::/path", usable only when its memory controller is on.
  const v1 = lines.map((l) => l.split(':')).find((f) => f[1].split(',').includes('memory'));
  if (v1 && existsSync(V1_ROOT)) return { dir: join(V1_ROOT, v1[2]), version: 1 };
  const v2 = lines.map((l) => l.split(':')).find((f) => f[0] === '0' && f[1] === '');
  if (v2) {
    const dir = join(V2_ROOT, v2[2]);
    try {
      if (readFileSync(join(dir, 'cgroup.controllers'), 'utf8').split(/\s+/).includes('memory')) return { dir, version: 2 };
    } catch {
      // fall through
    }
  }
  return { error: 'no memory cgroup controller for this process (v1 memory hierarchy or v2 with memory)' };
}

/**
 * Makes a child memory cgroup of `limitMb` (swap included where the kernel accounts it), or
 * returns why it cannot (not root, read-only /sys/fs/cgroup, no controller).
 */
function createMemoryCgroup(name, limitMb) {
  const own = ownMemoryCgroup();
  if (own.error) return { error: own.error };
  const dir = join(own.dir, name);
  const bytes = String(limitMb * 1024 * 1024);
  try {
    mkdirSync(dir);
    if (own.version === 1) {
      writeFileSync(join(dir, 'memory.limit_in_bytes'), bytes);
      // memsw must be at least the limit: written after it. Absent when swap is not accounted.
      if (existsSync(join(dir, 'memory.memsw.limit_in_bytes'))) writeFileSync(join(dir, 'memory.memsw.limit_in_bytes'), bytes);
    } else {
      writeFileSync(join(dir, 'memory.max'), bytes);
      if (existsSync(join(dir, 'memory.swap.max'))) writeFileSync(join(dir, 'memory.swap.max'), '0');
    }
  } catch (err) {
    try {
      rmdirSync(dir);
    } catch {
      // never made
    }
    return { error: `cannot make a memory cgroup under ${own.dir} (${err.message.split('\n')[0]})` };
  }
  const read = (file) => readFileSync(join(dir, file), 'utf8');
  const stat = (key) => {
    const match = new RegExp(`^${key} (\\d+)$`, 'm').exec(read('memory.stat'));
    return match ? Number(match[1]) : 0;
  };
  return {
    dir,
    version: own.version,
    limitMb,
    /** Wraps a command so that it runs inside the cgroup from its first instruction. */
    wrap: (command, args) => ['sh', ['-c', 'echo $$ > "$0/cgroup.procs" && exec "$@"', dir, command, ...args]],
    /** Processes the kernel's OOM killer killed in this cgroup. */
    oomKills: () => {
      const match = /^oom_kill (\d+)$/m.exec(read(own.version === 1 ? 'memory.oom_control' : 'memory.events'));
      return match ? Number(match[1]) : 0;
    },
    /** Anonymous memory of the processes (v1 total_rss, v2 anon), bytes: page cache is not theirs. */
    anonBytes: () => (own.version === 1 ? stat('total_rss') : stat('anon')),
    /** The cgroup's peak charge (page cache included), bytes, where the kernel keeps it. */
    peakBytes: () => {
      try {
        return Number(read(own.version === 1 ? 'memory.max_usage_in_bytes' : 'memory.peak'));
      } catch {
        return NaN;
      }
    },
    /** Removes the cgroup once its processes have ended (retries while the kernel lets them go). */
    remove: async () => {
      for (let attempt = 0; attempt < 50; attempt++) {
        try {
          rmdirSync(dir);
          return;
        } catch (err) {
          if (err.code === 'ENOENT') return;
          await new Promise((resolve) => setTimeout(resolve, 100));
        }
      }
      rmdirSync(dir);
    },
  };
}

module.exports = { createMemoryCgroup };
