import type { Config } from '../config/config';

/** Where a command writes: stdout lines and stderr lines (tests collect them). */
export interface Output {
  stdout(line: string): void;
  stderr(line: string): void;
}

export const processOutput: Output = {
  stdout: (line) => process.stdout.write(`${line}\n`),
  stderr: (line) => process.stderr.write(`${line}\n`),
};

/** The running process's admin port, as a command on the same machine reaches it (CONTRACT section 1). */
export function adminUrl(config: Config): string {
  const host = config.http.adminHost === '0.0.0.0' || config.http.adminHost === '::' ? '127.0.0.1' : config.http.adminHost;
  return `http://${host.includes(':') ? `[${host}]` : host}:${config.http.adminPort}`;
}

/** A command's failure told in one line (exit 1, no stack trace): a refusal, an answer it cannot use. */
export class CommandError extends Error {}
