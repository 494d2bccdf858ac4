import type { BusMessage, OutgoingMessage } from '../bus/bus';
import { SCHEMA_HEADER, type AvroCodec } from '../shared/avro';

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
