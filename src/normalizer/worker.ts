import type { BusMessage, Consumer, OutgoingMessage } from '../bus/bus';
import { GROUPS } from '../bus/topics';
import { deadLetter, sendDeadLetters } from '../dlq/dead-letter';
import { AvroCodec, SCHEMA_HEADER } from '../shared/avro';
import { LabelLimiter } from '../shared/label-limiter';
import type { RoleDeps } from '../shared/role-deps';
import { KNOWN_TOPICS, topicKey } from './catalogue';
import { DedupeWindow } from './dedupe';
import type { MistEvent } from './mist-event';
import { normalizeWebhook } from './normalize';
import { own } from '../shared/own';

export interface NormalizerDeps extends RoleDeps {
  now?: () => number;
}

export const eventCodec = (): AvroCodec<MistEvent> => new AvroCodec<MistEvent>('mist-event.avsc');

/**
 * mist.raw → mist.events: splits and normalizes every webhook, drops duplicates within the window
 * and topics routed to `drop`, dead-letters what cannot be normalized, and lets the bus commit
 * the raw offsets only after all of it was produced.
 */
export async function startNormalizer(deps: NormalizerDeps): Promise<Consumer> {
  const { config, metrics, topics } = deps;
  const now = deps.now ?? Date.now;
  const codec = eventCodec();
  const window = new DedupeWindow(config.normalizer.dedupeWindowMs);
  const rules = { map: config.normalizer.severityMap, overrides: config.normalizer.severityOverrides, privacy: config.normalizer.privacy };
  const routes = config.normalizer.routes;
  const topicLabel = new LabelLimiter(KNOWN_TOPICS, config.metrics.labelLimit);

  return deps.bus.consume({
    group: GROUPS.normalizer,
    topics: [topics.raw],
    maxBatch: 200,
    handler: async (batch, context) => {
      const events: OutgoingMessage[] = [];
      const dead: OutgoingMessage[] = [];
      const written = new Set<string>();
      const deadLetterOf = (reason: string, error: string, source: BusMessage, value?: Buffer): void => {
        dead.push(deadLetter('normalizer', reason, error, source, value));
      };

      for (const message of batch) {
        const receivedAt = Number(message.headers.received_at) || now();
        const webhook = normalizeWebhook(message.value ?? '', receivedAt, rules);
        if ('error' in webhook) {
          deadLetterOf('invalid_envelope', webhook.error, message);
          continue;
        }
        for (const [index, result] of webhook.results.entries()) {
          if (!result.ok) {
            deadLetterOf(result.reason, `event ${index}: ${result.error}`, message);
            continue;
          }
          const event = result.event;
          const route = own(routes, event.topic) ?? own(routes, topicKey(event.topic) ?? '');
          if (route?.drop) continue;
          if (written.has(event.event_id) || window.has(event.event_id, now())) {
            metrics.normalizer?.duplicates.inc({ topic: topicLabel.value(event.topic) });
            continue;
          }
          let value: Buffer;
          try {
            value = codec.encode(event);
          } catch (err) {
            deadLetterOf('schema_invalid', `event ${index}: ${codec.problems(event).join(', ') || (err as Error).message}`, message);
            continue;
          }
          written.add(event.event_id);
          events.push({ key: event.site_id ?? event.org_id ?? event.topic, value, headers: { [SCHEMA_HEADER]: codec.fingerprint } });
        }
      }

      if (events.length > 0) await context.produce(topics.events, events);
      await sendDeadLetters(context.produce, deps, 'normalizer', dead);
      window.add(written, now());
    },
  });
}
