/** CONTRACT section 4: topic names, all under KAFKA_TOPIC_PREFIX (default `mist.`). */
export interface Topics {
  raw: string;
  events: string;
  incidents: string;
  /** The correlator's memory of recoveries that resolved nothing (compacted; CONTRACT section 6, rule 4). */
  recoveries: string;
  dlq: string;
  /** The Mist API companion's inventory of sites and devices (compacted; CONTRACT section 8). */
  inventory: string;
  /** What the companion knows was delivered, so back-fill never delivers twice (compacted). */
  backfill: string;
}

export function topicNames(prefix: string): Topics {
  return {
    raw: `${prefix}raw`,
    events: `${prefix}events`,
    incidents: `${prefix}incidents`,
    recoveries: `${prefix}recoveries`,
    dlq: `${prefix}dlq`,
    inventory: `${prefix}inventory`,
    backfill: `${prefix}backfill`,
  };
}

/** Consumer groups, one per role, so every role sees every message. */
export const GROUPS = {
  normalizer: 'mistbridge-normalizer',
  splunk: 'mistbridge-splunk',
  metrics: 'mistbridge-metrics',
  correlator: 'mistbridge-correlator',
  mistapi: 'mistbridge-mistapi',
} as const;
