import { loadConfig } from './load';
import { heapMb, memoryBudget } from './memory';

/**
 * The image's entry point asks for Node's heap cap before it starts Node: `node
 * dist/config/heap-flag.js` prints the size in MB, or nothing when there is no budget. The budget
 * is the one the process will use: MEMORY_LIMIT_MB from the environment or the YAML file, else the
 * cgroup. A configuration the process will refuse still gets a cap from the environment alone.
 */
function budget(): ReturnType<typeof memoryBudget> {
  try {
    return loadConfig(process.env).memoryBudget;
  } catch {
    return memoryBudget(process.env);
  }
}

const found = budget();
if (found) process.stdout.write(String(heapMb(found.mb)));
