// Types for bench/cgroup.js, which the memory tests share with the bench.
export interface MemoryCgroup {
  dir: string;
  version: 1 | 2;
  limitMb: number;
  wrap(command: string, args: string[]): [string, string[]];
  oomKills(): number;
  anonBytes(): number;
  peakBytes(): number;
  remove(): Promise<void>;
}
export function createMemoryCgroup(name: string, limitMb: number): MemoryCgroup | { error: string };
