import type { Admin, Kafka } from 'kafkajs';
import type { BusMessage } from '../bus';
import { ReceivedRangeReader } from './received-range';

/**
 * Every message of `topic` (optionally some partitions) from the oldest retained up to the end
 * offsets of now, through the range reader's private group (it never commits; a topic with
 * nothing to read joins no group).
 */
export async function readToEnd(kafka: Kafka, admin: Admin, sessionTimeoutMs: number, topic: string, each: (message: BusMessage) => void, partitions?: number[]): Promise<void> {
  const reader = await ReceivedRangeReader.open(kafka, admin, sessionTimeoutMs, topic);
  try {
    await reader.read(reader.whole(partitions), Infinity, async (message) => each(message));
  } finally {
    await reader.close();
  }
}
