import type { KafkaMessage } from 'kafkajs';
import { PermanentError } from '../../shared/retry';
import type { BusMessage } from '../bus';
import { BusUnavailableError, MessageTooLargeError } from '../bus';

const TOO_LARGE = new Set(['MESSAGE_TOO_LARGE', 'RECORD_LIST_TOO_LARGE']);

/** An error and what it wraps (kafkajs wraps protocol errors in retry errors: `cause`, `originalError`). */
export function causes(err: Error): Error[] {
  const chain: Error[] = [];
  for (let e: unknown = err; e instanceof Error && chain.length < 10 && !chain.includes(e); ) {
    chain.push(e);
    e = (e as { originalError?: unknown }).originalError ?? e.cause;
  }
  return chain;
}

/** The broker refused a message of the request as too large. */
export function isTooLarge(err: unknown): boolean {
  return err instanceof Error && causes(err).some((e) => TOO_LARGE.has(String((e as { type?: unknown }).type)));
}

/**
 * What a failed send means, from kafkajs' own `retriable` flag: a message too large is this
 * request's problem (the ingress answers 413; the bus stays healthy); any other refusal the
 * broker will repeat (authorization, unknown topic) is permanent; everything else is retryable
 * unavailability. Both of the latter make the bus unavailable until a probe succeeds.
 */
export function classifySendError(err: Error): MessageTooLargeError | PermanentError | BusUnavailableError {
  if (isTooLarge(err)) return new MessageTooLargeError(`Kafka refused the message as too large: ${err.message}`, { cause: err });
  const chain = causes(err);
  const root = chain[chain.length - 1]!;
  if ((root as { retriable?: unknown }).retriable === false && root.name !== 'KafkaJSNumberOfRetriesExceeded') {
    return new PermanentError(`Kafka refused the write: ${root.message}`, 'kafka_refused', { cause: err });
  }
  return new BusUnavailableError(`Kafka did not acknowledge: ${err.message}`, 5, { cause: err });
}

export function toBusMessage(topic: string, partition: number, message: KafkaMessage): BusMessage {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(message.headers ?? {})) {
    if (value !== undefined) headers[name] = Array.isArray(value) ? String(value[0]) : String(value);
  }
  return { topic, partition, offset: message.offset, key: message.key?.toString('utf8') ?? '', value: message.value, headers };
}
