import { randomUUID } from 'node:crypto';
import type { Admin, Kafka } from 'kafkajs';
import type { BusMessage } from '../bus';
import { toBusMessage } from './errors';

const READ_TIMEOUT_MS = 60_000;

/**
 * Every message of `topic` (optionally some partitions) from the oldest retained up to the end
 * offsets of now, through a private group that never commits.
 */
export async function readToEnd(kafka: Kafka, admin: Admin, sessionTimeoutMs: number, topic: string, each: (message: BusMessage) => void, partitions?: number[]): Promise<void> {
  const offsets = await admin.fetchTopicOffsets(topic);
  const pending = new Map(
    offsets
      .filter((p) => (!partitions || partitions.includes(p.partition)) && BigInt(p.high) > BigInt(p.low))
      .map((p) => [p.partition, BigInt(p.high) - 1n]),
  );
  if (pending.size === 0) return;
  const reader = kafka.consumer({ groupId: `mistbridge-snapshot-${randomUUID()}`, sessionTimeout: sessionTimeoutMs, heartbeatInterval: 1000 });
  await reader.connect();
  try {
    await reader.subscribe({ topics: [topic], fromBeginning: true });
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`reading ${topic} did not complete in ${READ_TIMEOUT_MS} ms`)), READ_TIMEOUT_MS);
      void reader.run({
        autoCommit: false, // a private group that leaves no offsets behind
        eachBatch: async ({ batch }) => {
          const last = pending.get(batch.partition);
          if (last === undefined) return;
          for (const message of batch.messages) {
            if (BigInt(message.offset) > last) break;
            each(toBusMessage(batch.topic, batch.partition, message));
            if (BigInt(message.offset) === last) pending.delete(batch.partition);
          }
          if (pending.size === 0) {
            clearTimeout(timer);
            resolve();
          }
        },
      });
    });
  } finally {
    await reader.disconnect();
  }
}
