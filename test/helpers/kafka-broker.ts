import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { createInterface, type Interface } from 'node:readline';

const TOOLS = join(__dirname, '..', 'tools');
const BINARY = join(TOOLS, 'bin', 'kafka-mock');

/**
 * Whether the mock broker can run here: built by test/tools/build.sh (from Debian's librdkafka-dev).
 * Absent, Kafka tests skip with the reason, except under CI=true where they must run.
 */
export function kafkaBrokerAvailability(): string | null {
  if (!existsSync(BINARY)) {
    try {
      execFileSync('sh', [join(TOOLS, 'build.sh')], { stdio: 'pipe' });
    } catch (err) {
      const reason = `the Kafka mock broker cannot be built (needs gcc and Debian librdkafka-dev): ${(err as Error).message.split('\n')[0]}`;
      if (process.env.CI === 'true') throw new Error(`${reason}; CI=true requires it`, { cause: err });
      return reason;
    }
  }
  return null;
}

/** A librdkafka mock cluster on loopback, with commands to take brokers down and up. */
export class KafkaBroker {
  #child: ChildProcess | null = null;
  #lines: Interface | null = null;
  #replies: Array<(line: string) => void> = [];
  bootstrap = '';

  async start(brokers: number, topics: string[]): Promise<this> {
    this.#child = spawn(BINARY, [String(brokers), ...topics], { stdio: ['pipe', 'pipe', 'inherit'] });
    this.#lines = createInterface({ input: this.#child.stdout! });
    this.bootstrap = await new Promise<string>((resolve, reject) => {
      this.#child!.once('exit', (code) => reject(new Error(`kafka-mock exited with ${code}`)));
      this.#lines!.on('line', (line) => {
        if (line.startsWith('BOOTSTRAP ')) resolve(line.slice('BOOTSTRAP '.length).trim());
        else this.#replies.shift()?.(line);
      });
    });
    return this;
  }

  /** Sends one control command (`down -1`, `up -1`, `leader <topic> <p> <broker>` …); resolves on OK. */
  command(line: string): Promise<void> {
    return new Promise((resolve, reject) => {
      this.#replies.push((reply) => (reply === 'OK' ? resolve() : reject(new Error(`kafka-mock: ${reply}`))));
      this.#child!.stdin!.write(`${line}\n`);
    });
  }

  async stop(): Promise<void> {
    if (!this.#child) return;
    const exited = new Promise((resolve) => this.#child!.once('exit', resolve));
    this.#child.stdin!.end();
    setTimeout(() => this.#child?.kill('SIGKILL'), 2000).unref();
    await exited;
    this.#child = null;
  }
}

export const TEST_TOPICS = ['mist.raw:4', 'mist.events:4', 'mist.incidents:4', 'mist.recoveries:4', 'mist.dlq:2', 'mist.inventory:4', 'mist.backfill:2', 'mist.redrive:2', 'mist.ocsf:2'];
