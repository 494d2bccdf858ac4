import { appendFileSync, closeSync, fsyncSync, mkdirSync, openSync } from 'node:fs';
import { appendFile, open, readFile, rename, writeFile } from 'node:fs/promises';
import { dirname } from 'node:path';

/**
 * `DATA_DIR/dlq.ndjson`, the embedded DLQ: one JSON letter or redrive marker per line, fsynced.
 * One writer at a time (appends, purges), so a purge never loses a letter written meanwhile.
 */
export class DlqFile {
  #queue: Promise<unknown> = Promise.resolve();

  constructor(readonly path: string) {}

  append(lines: string[]): Promise<void> {
    return this.#serial(async () => {
      await mkdirp(this.path);
      await appendFile(this.path, lines.map((l) => `${l}\n`).join(''));
      await sync(this.path);
    });
  }

  /** At start-up, before anything else writes (a quarantined webhook). */
  appendSync(line: string): void {
    mkdirSync(dirname(this.path), { recursive: true });
    appendFileSync(this.path, `${line}\n`);
    const fd = openSync(this.path, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  /** Every line, oldest first (none when the file does not exist). */
  read(): Promise<string[]> {
    return this.#serial(() => readLines(this.path));
  }

  /** Rewrites the file with the lines `keep` returns (atomically: a crash leaves the old or the new file). */
  rewrite(keep: (lines: string[]) => string[]): Promise<{ before: number; after: number }> {
    return this.#serial(async () => {
      const lines = await readLines(this.path);
      const kept = keep(lines);
      const tmp = `${this.path}.tmp`;
      await writeFile(tmp, kept.map((l) => `${l}\n`).join(''));
      await sync(tmp);
      await rename(tmp, this.path);
      return { before: lines.length, after: kept.length };
    });
  }

  #serial<T>(work: () => Promise<T>): Promise<T> {
    const next = this.#queue.then(work, work);
    this.#queue = next.catch(() => undefined);
    return next;
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

async function mkdirp(path: string): Promise<void> {
  const { mkdir } = await import('node:fs/promises');
  await mkdir(dirname(path), { recursive: true });
}

async function sync(path: string): Promise<void> {
  const handle = await open(path, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}
