import type { Bus } from '../bus/bus';
import type { Topics } from '../bus/topics';
import type { Config } from '../config/config';
import type { TailHub } from '../tail/hub';
import type { Clock } from './clock';
import type { Logger } from './logger';
import type { MemoryAccount } from './memory-account';
import type { Metrics } from './metrics';

/** What every role's start function receives. */
export interface RoleDeps {
  bus: Bus;
  topics: Topics;
  config: Config;
  metrics: Metrics;
  logger: Logger;
  clock: Clock;
  /** Live copies for `/api/tail`, when this process serves it. */
  tail?: TailHub;
  /** The process's memory reservations (what a stage holds is charged here). */
  memory?: MemoryAccount;
}
