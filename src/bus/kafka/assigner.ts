import { PartitionAssigners, type PartitionAssigner } from 'kafkajs';

/** How long the group leader waits before sending its assignment. */
const LEADER_SYNC_DELAY_MS = 300;

/**
 * kafkajs' round-robin assignment, sent a moment late when other members are in the group.
 * A coordinator may complete a generation as soon as the leader's assignment arrives (the librdkafka
 * mock coordinator does) and then refuse the followers' SyncGroup requests that come after it; the
 * pause lets the followers' requests arrive first. With a real broker it only adds 300 ms per rebalance.
 */
export const patientRoundRobin: PartitionAssigner = (config) => {
  const inner = PartitionAssigners.roundRobin(config);
  return {
    ...inner,
    async assign(group) {
      if (group.members.length > 1) await new Promise((resolve) => setTimeout(resolve, LEADER_SYNC_DELAY_MS));
      return inner.assign(group);
    },
  };
};
