import { isQuiet, type BusMessage, type Consumer, type OutgoingMessage } from '../../bus/bus';
import { GROUPS } from '../../bus/topics';
import { lettersFor, sendDeadLetters } from '../../dlq/dead-letter';
import { sourceTopic } from '../../dlq/letters';
import { decodeOrDeadLetter } from '../../domain/decode';
import { incidentCodec } from '../../domain/incident';
import { eventCodec } from '../../domain/mist-event';
import type { RoleDeps } from '../../shared/role-deps';
import { HecClient } from './client';
import { eventEnvelopes, incidentEnvelope } from './encoder';
import { MISTBRIDGE_VERSION } from '../../shared/version';
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
  const letter = lettersFor(deps, 'splunk');
  const settings = { defaultIndex: splunk.index, routes: deps.config.normalizer.routes, format: splunk.format, version: MISTBRIDGE_VERSION };

  const consumer = await deps.bus.consume({
    group: GROUPS.splunk,
    stage: 'splunk',
    onRedriven: (count) => deps.metrics.dlqRedriven?.inc({ stage: 'splunk' }, count),
    topics: [deps.topics.events, deps.topics.incidents, deps.topics.redrive],
    maxBatch: splunk.batchMaxEvents,
    lingerMs: splunk.lingerMs,
    handler: async (batch, context) => {
      const envelopes: string[] = [];
      const sources: BusMessage[] = [];
      const dead: OutgoingMessage[] = [];
      for (const message of batch) {
        if (!message.value) continue; // a tombstone: the incident was forgotten, nothing to index
        const withValue = { ...message, value: message.value };
        if (sourceTopic(message) === deps.topics.incidents) {
          if (isQuiet(message.headers)) continue; // state only: its latest goes out when the correlator flushes
          const incident = decodeOrDeadLetter(incidents, withValue, dead, letter);
          if (incident) envelopes.push(incidentEnvelope(incident, settings.defaultIndex));
          else continue;
        } else {
          const event = decodeOrDeadLetter(events, withValue, dead, letter);
          if (event) envelopes.push(...eventEnvelopes(event, settings));
          else continue;
        }
        sources.push(message);
      }
      // A batch on its way to Splunk is held until HEC took it (a drain: it never waits for room).
      const release = deps.memory?.hold('delivery', envelopes.reduce((n, e) => n + e.length, 0));
      let rejected;
      try {
        rejected = envelopes.length > 0 ? await sink.deliver(envelopes, context.signal) : [];
      } finally {
        release?.();
      }
      for (const r of rejected) dead.push(letter(r.reason, r.error, sources[r.index]!));
      await sendDeadLetters(context.produce, deps, 'splunk', dead);
    },
  });

  return {
    group: consumer.group,
    ready: () => consumer.ready(),
    assigned: () => consumer.assigned(),
    sink,
    async stop() {
      await consumer.stop();
      client.close();
    },
  };
}
