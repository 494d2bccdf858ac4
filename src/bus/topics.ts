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
  /**
   * Redriven letters whose source topic is compacted (0.3): never written back into that topic,
   * where an old record would become its key's latest state (not compacted, retention 1 day).
   */
  redrive: string;
  /** OCSF events as JSON (0.3, KAFKA_OCSF): audits, alarms, NAC; not compacted, the events' retention. */
  ocsf: string;
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
    redrive: `${prefix}redrive`,
    ocsf: `${prefix}ocsf`,
  };
}

/** The compacted topics: state, never re-written by a redrive. */
export function compactedTopics(topics: Topics): string[] {
  return [topics.incidents, topics.recoveries, topics.inventory, topics.backfill];
}

/** Consumer groups, one per role, so every role sees every message. */
export const GROUPS = {
  normalizer: 'mistbridge-normalizer',
  splunk: 'mistbridge-splunk',
  metrics: 'mistbridge-metrics',
  correlator: 'mistbridge-correlator',
  mistapi: 'mistbridge-mistapi',
} as const;
