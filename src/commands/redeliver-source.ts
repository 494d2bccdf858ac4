import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { Journal, scanSegment } from '../bus/embedded/journal';
import { topicNames } from '../bus/topics';
import type { Config } from '../config/config';
import { CommandError } from './common';

export type Received = { body: Buffer; receivedAt: number };

/** The webhooks received in a window, read one at a time from where they are kept. */
export interface ReceivedWindow {
  /** When what is kept begins, when older webhooks were dropped; null when nothing was. */
  readonly horizon: number | null;
  /** How many webhooks the read goes through (for progress; a few more on Kafka, for clock skew). */
  readonly webhooks: number;
  /** How many of them were read so far. */
  readSoFar(): number;
  /** Each webhook received in [low, high], awaited one after the other. */
  read(each: (received: Received) => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

/**
 * The embedded journal and its archive, read directly (a running process keeps writing beside):
 * one pass over the segments' record headers finds what was received in the window, then the
 * bodies are read one at a time.
 */
export function journalWindow(config: Config, low: number, high: number): ReceivedWindow {
  const dir = join(config.dataDir, 'raw');
  const segments = existsSync(dir) ? Journal.segmentFiles(dir) : [];
  const found: Array<{ path: string; position: number; length: number; receivedAt: number }> = [];
  let earliest: number | null = null;
  for (const { start, path } of segments) {
    scanSegment(path, start, (record) => {
      const receivedAt = Number(record.headers.received_at);
      if (!Number.isFinite(receivedAt)) return;
      earliest = earliest === null ? receivedAt : Math.min(earliest, receivedAt);
      if (receivedAt >= low && receivedAt <= high) found.push({ path, ...record.location, receivedAt });
    });
  }
  let done = 0;
  return {
    // Segments before the oldest kept one were dropped: nothing received before its first record is left.
    horizon: (segments[0]?.start ?? 0) > 0 ? earliest : null,
    webhooks: found.length,
    readSoFar: () => done,
    async read(each) {
      let fd = -1;
      let opened = '';
      try {
        for (const { path, position, length, receivedAt } of found) {
          if (opened !== path) {
            if (fd >= 0) closeSync(fd);
            fd = -1;
            try {
              fd = openSync(path, 'r');
            } catch (err) {
              // A running process dropped it (RAW_RETENTION_S, RAW_RETENTION_BYTES, a full disk) since the scan.
              if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new CommandError(`webhooks received from ${new Date(receivedAt).toISOString()} were dropped from the journal's archive while being read (retention): what was delivered so far stays; run again with a later --from`);
              throw err;
            }
            opened = path;
          }
          const body = Buffer.allocUnsafe(length);
          readSync(fd, body, 0, length, position);
          done++;
          await each({ body, receivedAt });
        }
      } finally {
        if (fd >= 0) closeSync(fd);
      }
    },
    close: async () => undefined,
  };
}

/** The raw topic, each partition's span found by binary search on `received_at`. */
export async function kafkaWindow(config: Config, low: number, high: number): Promise<ReceivedWindow> {
  const { KafkaBus } = await import('../bus/kafka/kafka-bus');
  const { silentLogger } = await import('../shared/logger');
  const topics = topicNames(config.topicPrefix);
  const bus = new KafkaBus(config.kafka!, topics, silentLogger());
  let reader: Awaited<ReturnType<typeof bus.receivedRange>> | null = null;
  const close = async (): Promise<void> => {
    await reader?.close();
    await bus.close();
  };
  try {
    reader = await bus.receivedRange(topics.raw);
    const horizon = await reader.horizon();
    const { spans, records } = await reader.range(low, high);
    let done = 0;
    return {
      horizon,
      webhooks: records,
      readSoFar: () => done,
      read: (each) =>
        reader!.read(spans, high, async (message) => {
          done++;
          const receivedAt = Number(message.headers.received_at);
          if (message.value && receivedAt >= low && receivedAt <= high) await each({ body: message.value, receivedAt });
        }),
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}
