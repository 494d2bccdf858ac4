import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { Journal, scanSegment } from '../bus/embedded/journal';
import { topicNames } from '../bus/topics';
import type { Config } from '../config/config';

export type Received = { body: Buffer; receivedAt: number };

/** The webhooks received in a window, read one at a time from where they are kept. */
export interface ReceivedWindow {
  /** When what is kept begins, when older webhooks were dropped; null when nothing was. */
  readonly horizon: number | null;
  /** How many webhooks at most the read goes through (for progress). */
  readonly webhooks: number;
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
  return {
    // Segments before the oldest kept one were dropped: nothing received before its first record is left.
    horizon: (segments[0]?.start ?? 0) > 0 ? earliest : null,
    webhooks: found.length,
    async read(each) {
      let fd = -1;
      let opened = '';
      try {
        for (const { path, position, length, receivedAt } of found) {
          if (opened !== path) {
            if (fd >= 0) closeSync(fd);
            fd = openSync(path, 'r');
            opened = path;
          }
          const body = Buffer.allocUnsafe(length);
          readSync(fd, body, 0, length, position);
          await each({ body, receivedAt });
        }
      } finally {
        if (fd >= 0) closeSync(fd);
      }
    },
    close: async () => undefined,
  };
}

/** The raw topic, each partition from the offset found by binary search on `received_at`. */
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
    const { starts, records } = await reader.seek(low);
    return {
      horizon,
      webhooks: records,
      read: (each) =>
        reader!.read(starts, high, async (message) => {
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
