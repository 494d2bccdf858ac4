import { appendFileSync, mkdirSync } from 'node:fs';
import { appendFile, mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';
import { syncPath, syncPathSync } from '../../shared/fsync';
import { SerialQueue } from '../../shared/serial';

/**
 * `DATA_DIR/dlq.ndjson`, the embedded DLQ: one JSON letter or redrive marker per line, fsynced.
 * One writer at a time (appends, purges), so a purge never loses a letter written meanwhile.
 */
export class DlqFile {
  readonly #queue = new SerialQueue();

  constructor(readonly path: string) {}

  append(lines: string[]): Promise<void> {
    return this.#queue.run(async () => {
      await mkdir(dirname(this.path), { recursive: true });
      await appendFile(this.path, lines.map((l) => `${l}\n`).join(''));
      await syncPath(this.path);
    });
  }

  /** At start-up, before anything else writes (a quarantined webhook). */
  appendSync(line: string): void {
    mkdirSync(dirname(this.path), { recursive: true });
    appendFileSync(this.path, `${line}\n`);
    syncPathSync(this.path);
  }

  /** Every line, oldest first (none when the file does not exist). */
  read(): Promise<string[]> {
    return this.#queue.run(() => readLines(this.path));
  }

  /** Rewrites the file with the lines `keep` returns (atomically: a crash leaves the old or the new file). */
  rewrite(keep: (lines: string[]) => string[]): Promise<{ before: number; after: number }> {
    return this.#queue.run(async () => {
      const lines = await readLines(this.path);
      const kept = keep(lines);
      const tmp = `${this.path}.tmp`;
      await writeFile(tmp, kept.map((l) => `${l}\n`).join(''));
      await syncPath(tmp);
      await rename(tmp, this.path);
      return { before: lines.length, after: kept.length };
    });
  }
}

export async function readLines(path: string): Promise<string[]> {
  try {
    return (await readFile(path, 'utf8')).split('\n').filter((l) => l.trim() !== '');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}
