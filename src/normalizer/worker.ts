import type { BatchContext, BusMessage, Consumer, OutgoingMessage } from '../bus/bus';
import { MessageTooLargeError } from '../bus/bus';
import { GROUPS } from '../bus/topics';
import { lettersFor, sendDeadLetters } from '../dlq/dead-letter';
import { eventCodec, type MistEvent } from '../domain/mist-event';
import type { TailHub } from '../tail/hub';
import { canonicalTopic, routeFor } from '../domain/topic';
import { SCHEMA_HEADER } from '../shared/avro';
import { LabelLimiter } from '../shared/label-limiter';
import type { RoleDeps } from '../shared/role-deps';
import { KNOWN_TOPICS } from './catalogue';
import { DedupeWindow } from './dedupe';
import { InventoryNames } from '../domain/inventory';
import { enrich } from './enrich';
import { ApiCatalogue } from '../domain/api-catalogue';
import { toOcsf } from '../domain/ocsf';
import { MISTBRIDGE_VERSION } from '../shared/version';
import { webhookEvents } from './normalize';

export type NormalizerDeps = RoleDeps;

/**
 * The normalizer's memory is bounded by what it holds, not by a count of webhooks: a batch takes
 * raw bodies up to RAW_BATCH_BYTES (at least one), and its events go out in chunks of at most
 * OUTPUT_CHUNK_EVENTS / OUTPUT_CHUNK_BYTES while the rest is still being normalized. Four 4.7 MB
 * bodies of 100,000 events each used to be held as 400,000 encoded events at once.
 */
const RAW_BATCH_BYTES = 4 * 1024 * 1024;
/** A body being normalized holds about this many times its size (measured: 20 MB of parsed tree for an 8.4 MB body, plus its text). */
const PARSE_FACTOR = 3;
const OUTPUT_CHUNK_EVENTS = 2000;
const OUTPUT_CHUNK_BYTES = 2 * 1024 * 1024;

/**
 * mist.raw → mist.events: splits and normalizes every webhook, drops duplicates within the window
 * and topics routed to `drop`, dead-letters what cannot be normalized, and lets the bus commit
 * the raw offsets only after all of it was produced.
 */
export async function startNormalizer(deps: NormalizerDeps): Promise<Consumer> {
  const { config, metrics, topics, clock } = deps;
  const codec = eventCodec();
  const window = new DedupeWindow(config.normalizer.dedupeWindowMs);
  // Mist's catalogues, kept by the companion in the inventory (const:* keys), for types the built-in tables lack.
  const catalogue = new ApiCatalogue();
  const rules = { map: config.normalizer.severityMap, overrides: config.normalizer.severityOverrides, privacy: config.normalizer.privacy, catalogue };
  const routes = config.normalizer.routes;
  const topicLabel = new LabelLimiter(KNOWN_TOPICS, config.metrics.labelLimit);
  const letter = lettersFor(deps, 'normalizer');
  // The whole inventory (every partition), followed: names for events that lack them.
  const names = new InventoryNames();
  const inventoryStart = deps.bus.consume({
    group: 'mistbridge-normalizer-inventory',
    topics: [topics.inventory],
    ephemeral: true,
    handler: async (batch) => {
      for (const message of batch) {
        names.apply(message.key, message.value);
        catalogue.apply(message.key, message.value);
      }
    },
  });
  const consumerStart = deps.bus.consume({
    group: GROUPS.normalizer,
    stage: 'normalizer',
    onRedriven: (count) => deps.metrics.dlqRedriven?.inc({ stage: 'normalizer' }, count),
    topics: [topics.raw],
    maxBatch: 200,
    maxBatchBytes: RAW_BATCH_BYTES,
    handler: async (batch, context) => {
      const dead: OutgoingMessage[] = [];
      const written = new Set<string>();
      const output = new OutputChunks(context, topics.events, dead, deps.tail);
      // KAFKA_OCSF: the OCSF shape of the mapped topics beside, as JSON (CONTRACT section 10).
      const ocsfOutput = config.kafka?.ocsf ? new OutputChunks(context, topics.ocsf, dead) : null;

      for (const message of batch) {
        // A body being normalized is held three times over (its text, its parsed tree, the
        // events in hand): charged, so that the ingress and fetching stop before memory does.
        const release = deps.memory?.hold('normalizing', PARSE_FACTOR * (message.value?.length ?? 0));
        try {
          await normalizeOne(message);
        } finally {
          release?.();
        }
      }
      await output.flush();
      await ocsfOutput?.flush();
      await sendDeadLetters(context.produce, deps, 'normalizer', dead);
      window.add(written, clock.now());

      async function normalizeOne(message: BusMessage): Promise<void> {
        const receivedAt = Number(message.headers.received_at) || clock.now();
        // The raw event beside the normalized one for someone tailing, only without privacy rules.
        let raw: unknown;
        const keepRaw = deps.tail?.listening === true && config.normalizer.privacy.mode === 'off';
        const webhook = webhookEvents(message.value ?? '', receivedAt, rules, keepRaw ? (event) => (raw = event) : undefined);
        if ('error' in webhook) {
          dead.push(letter('invalid_envelope', webhook.error, message));
          return;
        }
        let index = -1;
        for (const result of webhook.results) {
          index++;
          if (!result.ok) {
            dead.push(letter(result.reason, `event ${index}: ${result.error}`, message));
            continue;
          }
          if (result.catalogue) metrics.normalizer?.catalogueLookups.inc({ source: result.catalogue });
          const event = enrich(result.event, names, message.headers.source, message.headers.tenant_org_id);
          if (routeFor(routes, event.topic)?.drop) continue;
          if (written.has(event.event_id) || window.has(event.event_id, clock.now())) {
            metrics.normalizer?.duplicates.inc({ topic: topicLabel.value(canonicalTopic(event.topic)) });
            continue;
          }
          let value: Buffer;
          try {
            value = codec.encode(event);
          } catch (err) {
            dead.push(letter('schema_invalid', `event ${index}: ${codec.problems(event).join(', ') || (err as Error).message}`, message));
            continue;
          }
          written.add(event.event_id);
          const ocsf = ocsfOutput && toOcsf(event, MISTBRIDGE_VERSION);
          if (ocsf) await ocsfOutput!.add({ key: event.site_id ?? event.org_id ?? event.topic, value: Buffer.from(JSON.stringify(ocsf)), headers: { content_type: 'application/json' } }, event, undefined, () => letter('too_large', `event ${index}: the broker refused the OCSF event as too large`, message));
          await output.add({ key: event.site_id ?? event.org_id ?? event.topic, value, headers: { [SCHEMA_HEADER]: codec.fingerprint } }, event, raw, () =>
            letter('too_large', `event ${index}: the broker refused the normalized event as too large`, message),
          );
        }
      }
    },
  });
  // Started side by side (a group join on Kafka takes seconds).
  const [inventory, consumer] = await Promise.all([inventoryStart, consumerStart]);
  return {
    group: consumer.group,
    ready: () => consumer.ready() && inventory.ready(),
    assigned: () => consumer.assigned(),
    stop: async () => {
      await Promise.all([consumer.stop(), inventory.stop()]);
    },
  };
}

/** Events produced in bounded chunks; one the broker refuses as too large becomes a dead letter instead of blocking the partition. */
class OutputChunks {
  #chunk: Array<{ message: OutgoingMessage; refused: () => OutgoingMessage; event?: MistEvent; raw?: unknown }> = [];
  #bytes = 0;

  constructor(
    private readonly context: BatchContext,
    private readonly topic: string,
    private readonly dead: OutgoingMessage[],
    private readonly tail?: TailHub,
  ) {}

  async add(message: OutgoingMessage, event: MistEvent, raw: unknown, refused: () => OutgoingMessage): Promise<void> {
    // The event object is kept only while someone tails: otherwise the chunk holds bytes alone.
    this.#chunk.push({ message, refused, ...(this.tail?.listening ? { event, ...(raw !== undefined ? { raw } : {}) } : {}) });
    this.#bytes += message.value?.length ?? 0;
    if (this.#chunk.length >= OUTPUT_CHUNK_EVENTS || this.#bytes >= OUTPUT_CHUNK_BYTES) await this.flush();
  }

  async flush(): Promise<void> {
    const chunk = this.#chunk;
    this.#chunk = [];
    this.#bytes = 0;
    if (chunk.length === 0) return;
    try {
      await this.context.produce(this.topic, chunk.map((c) => c.message));
      for (const { event, raw } of chunk) if (event) this.tail?.publish({ kind: 'event', event, ...(raw !== undefined ? { raw } : {}) });
    } catch (err) {
      if (!(err instanceof MessageTooLargeError)) throw err;
      // The request as a whole was too large: find the events that are, one by one.
      for (const { message, refused } of chunk) {
        try {
          await this.context.produce(this.topic, [message]);
        } catch (single) {
          if (!(single instanceof MessageTooLargeError)) throw single;
          this.dead.push(refused());
        }
      }
    }
  }
}
