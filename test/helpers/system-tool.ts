import { execFileSync } from 'node:child_process';

/**
 * Finds a system tool for tests that need one. Absent: the test reports itself skipped with the
 * reason, except under CI=true, where the tool must be there (CONTRACT section 1).
 */
export function systemTool(name: string, debianPackage: string): { path: string | null; skipReason: string | null } {
  try {
    const path = execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim();
    if (path) return { path, skipReason: null };
  } catch {
    // not found
  }
  const reason = `${name} not found (Debian package ${debianPackage})`;
  if (process.env.CI === 'true') throw new Error(`${reason}; CI=true requires it`);
  return { path: null, skipReason: reason };
}
