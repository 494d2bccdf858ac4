import { readFileSync } from 'node:fs';

/**
 * The process's memory budget (CONTRACT section 2, MEMORY_LIMIT_MB): the variable, else the
 * container's cgroup limit (v2 `memory.max`, else v1 `memory.limit_in_bytes`), else none. A running
 * Node process cannot cap its own heap, so the image's entry point passes `--max-old-space-size`
 * from it (heapMb), and the ingress's backlog bounds derive from it (backlogBytes).
 */
export interface MemoryBudget {
  mb: number;
  source: 'MEMORY_LIMIT_MB' | 'cgroup v2 memory.max' | 'cgroup v1 memory.limit_in_bytes';
}

const MiB = 1024 * 1024;
/** cgroup v1 reports "no limit" as a huge number (PAGE_COUNTER_MAX pages). */
const UNLIMITED_V1 = 2 ** 60;

export function memoryBudget(env: Record<string, string | undefined>, read: (path: string) => string = (p) => readFileSync(p, 'utf8'), root = env.MISTBRIDGE_CGROUP_ROOT ?? '/sys/fs/cgroup'): MemoryBudget | null {
  const explicit = Number(env.MEMORY_LIMIT_MB);
  if (env.MEMORY_LIMIT_MB && Number.isFinite(explicit) && explicit > 0) return { mb: Math.floor(explicit), source: 'MEMORY_LIMIT_MB' };
  const attempt = (path: string): string | null => {
    try {
      return read(path).trim();
    } catch {
      return null;
    }
  };
  const v2 = attempt(`${root}/memory.max`);
  if (v2 !== null) return /^\d+$/.test(v2) ? { mb: Math.floor(Number(v2) / MiB), source: 'cgroup v2 memory.max' } : null; // "max": no limit
  const v1 = attempt(`${root}/memory/memory.limit_in_bytes`);
  if (v1 !== null && /^\d+$/.test(v1) && Number(v1) < UNLIMITED_V1) return { mb: Math.floor(Number(v1) / MiB), source: 'cgroup v1 memory.limit_in_bytes' };
  return null;
}

/**
 * What a Node process holds outside its heap and its buffers whatever it does (the binary's own
 * allocations, code, the young generation's semi-spaces): measured inside a memory cgroup, an idle
 * process with every role holds 32–35 MB of anonymous memory; a margin is kept.
 */
export const FIXED_MB = 40;

/**
 * V8's old space for a budget. Buffers (webhook bodies, normalized events waiting for delivery)
 * live outside it, so the heap cap, the backlog bounds and the fixed part must add up to less
 * than the budget: inside a real 128 MiB cgroup a heap cap of 0.55 × the budget plus a fifth for
 * the backlog was OOM-killed by the kernel (bench/RESULTS.md, round 3).
 */
export function heapMb(budgetMb: number): number {
  return Math.max(32, Math.floor((budgetMb - FIXED_MB) * 0.6));
}

/** What the ingress may hold unprocessed, and read at once, within the budget (each a quarter of what the fixed part leaves, 4–64 MiB). */
export function backlogBytes(budgetMb: number): number {
  return Math.min(64 * MiB, Math.max(4 * MiB, Math.floor((budgetMb - FIXED_MB) * MiB * 0.25)));
}
