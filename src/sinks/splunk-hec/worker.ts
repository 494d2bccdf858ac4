import type { BusMessage, Consumer, OutgoingMessage } from '../../bus/bus';
import { GROUPS } from '../../bus/topics';
import { deadLetter, sendDeadLetters } from '../../dlq/dead-letter';
import { incidentCodec } from '../../correlator/codec';
import { eventCodec } from '../../normalizer/worker';
import { SCHEMA_HEADER } from '../../shared/avro';
import type { RoleDeps } from '../../shared/role-deps';
import { HecClient } from './client';
import { eventEnvelope, incidentEnvelope } from './encoder';
import { HecSink } from './sink';

export type SplunkSinkDeps = RoleDeps;

export interface SplunkSinkHandle extends Consumer {
  sink: HecSink;
}

/** mist.events and mist.incidents → Splunk HEC; offsets are committed only after HEC accepted (or the DLQ holds) every event. */
export async function startSplunkSink(deps: SplunkSinkDeps): Promise<SplunkSinkHandle> {
  const splunk = deps.config.splunk!;
  const client = new HecClient(splunk);
  const sink = new HecSink(splunk, client, deps.metrics.hec!, deps.logger);
  const events = eventCodec();
  const incidents = incidentCodec();
  const settings = { defaultIndex: splunk.index, routes: deps.config.normalizer.routes };

  const consumer = await deps.bus.consume({
    group: GROUPS.splunk,
    topics: [deps.topics.events, deps.topics.incidents],
    maxBatch: splunk.batchMaxEvents,
    lingerMs: splunk.lingerMs,
    handler: async (batch, context) => {
      const envelopes: string[] = [];
      const sources: BusMessage[] = [];
      const dead: OutgoingMessage[] = [];
      for (const message of batch) {
        if (!message.value) continue; // a tombstone: the incident was forgotten, nothing to index
        try {
          envelopes.push(
            message.topic === deps.topics.incidents
              ? incidentEnvelope(incidents.decode(message.value, message.headers[SCHEMA_HEADER]), settings.defaultIndex)
              : eventEnvelope(events.decode(message.value, message.headers[SCHEMA_HEADER]), settings),
          );
          sources.push(message);
        } catch (err) {
          dead.push(deadLetter('splunk', 'schema_mismatch', (err as Error).message, message));
        }
      }
      const rejected = envelopes.length > 0 ? await sink.deliver(envelopes, context.signal) : [];
      for (const r of rejected) dead.push(deadLetter('splunk', r.reason, r.error, sources[r.index]!));
      await sendDeadLetters(context.produce, deps, 'splunk', dead);
    },
  });

  return {
    group: consumer.group,
    ready: () => consumer.ready(),
    sink,
    async stop() {
      await consumer.stop();
      client.close();
    },
  };
}
