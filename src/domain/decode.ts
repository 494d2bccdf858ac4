import type { BusMessage, OutgoingMessage } from '../bus/bus';
import { REDRIVE_HEADER } from '../dlq/letters';
import { SCHEMA_HEADER, type AvroCodec } from '../shared/avro';
import type { Logger } from '../shared/logger';

/**
 * The step every reader of mist.events and mist.incidents takes: decode with the writer's schema
 * fingerprint, or turn the message into a dead letter (`schema_mismatch`) so the stream moves on.
 */
export function decodeOrDeadLetter<T>(
  codec: AvroCodec<T>,
  message: BusMessage & { value: Buffer },
  dead: OutgoingMessage[],
  letter: (reason: 'schema_mismatch', error: string, source: BusMessage) => OutgoingMessage,
): T | null {
  try {
    return codec.decode(message.value, message.headers[SCHEMA_HEADER]);
  } catch (err) {
    dead.push(letter('schema_mismatch', (err as Error).message, message));
    return null;
  }
}

/**
 * The same step for a snapshot at a rebuild: records written with an unknown schema are skipped
 * (the batch path dead-letters them when each group consumes them) and counted in one warning, so
 * one foreign record never stops a role from starting. Tombstones and redriven records are no state.
 */
export function decodeSnapshot<T>(codec: AvroCodec<T>, messages: readonly BusMessage[], logger: Logger, what: string): Array<{ message: BusMessage; value: T }> {
  const out: Array<{ message: BusMessage; value: T }> = [];
  let skipped = 0;
  let reason = '';
  for (const message of messages) {
    if (!message.value || message.headers[REDRIVE_HEADER] !== undefined) continue;
    try {
      out.push({ message, value: codec.decode(message.value, message.headers[SCHEMA_HEADER]) });
    } catch (err) {
      skipped++;
      reason = (err as Error).message;
    }
  }
  if (skipped > 0) logger.warn(`${what}: records left out of the rebuilt state (unreadable; dead-lettered when consumed)`, { skipped, reason });
  return out;
}
