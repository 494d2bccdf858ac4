import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { createInterface } from 'node:readline';

export const CLI = join(__dirname, '..', '..', 'dist', 'cli.js');
/** The image's entry point (heap cap from the memory budget), as the container runs it. */
export const ENTRYPOINT = join(__dirname, '..', '..', 'scripts', 'docker-entrypoint.sh');

export interface MistbridgeProcess {
  child: ChildProcess;
  port: number;
  adminPort: number;
  /** The webhook port. */
  url: string;
  /** The admin port: /metrics, /readyz, /api/*. */
  adminUrl: string;
  logs: Array<Record<string, unknown>>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

const LOOPBACK_ANY_PORT = { PORT: '0', ADMIN_PORT: '0', HOST: '127.0.0.1', LOG_LEVEL: 'info' };

/**
 * Runs the built CLI (`node dist/cli.js run`) as its own OS process and waits for its ready line.
 * `defaults` come before `env`: by default loopback and any free ports.
 */
export function startProcess(
  env: Record<string, string>,
  args: string[] = ['run'],
  defaults: Record<string, string> = LOOPBACK_ANY_PORT,
  /** `wrap`: runs the command through another (inside a memory cgroup, say). */
  options: { entrypoint?: boolean; wrap?: (command: string, args: string[]) => [string, string[]] } = {},
): Promise<MistbridgeProcess> {
  const command: [string, string[]] = options.entrypoint ? ['sh', [ENTRYPOINT, ...args]] : [process.execPath, [CLI, ...args]];
  const child = spawn(...(options.wrap ? options.wrap(...command) : command), {
    env: { PATH: process.env.PATH ?? '', ...defaults, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const logs: Array<Record<string, unknown>> = [];
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`mistbridge did not start: ${stderr}`)), 60000); // Kafka group joins after a kill -9 wait out the dead member's session
    void exited.then((code) => reject(new Error(`mistbridge exited with ${code}: ${stderr}`)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      let entry: Record<string, unknown>;
      try {
        entry = JSON.parse(line) as Record<string, unknown>;
      } catch {
        return;
      }
      logs.push(entry);
      if (entry.message === 'ready') {
        clearTimeout(timer);
        const port = entry.port as number;
        const adminPort = entry.adminPort as number;
        resolve({ child, port, adminPort, url: `http://127.0.0.1:${port}`, adminUrl: `http://127.0.0.1:${adminPort}`, logs, exited });
      }
    });
  });
}
