import { readFileSync } from 'node:fs';
import { Kafka, logLevel, type KafkaConfig as KafkaJsConfig, type LogEntry } from 'kafkajs';
import type { KafkaConfig } from '../../config/config';
import type { Logger } from '../../shared/logger';
import { LogThrottle } from '../../shared/log-throttle';

/**
 * The one kafkajs client of a process, with TLS/SASL from config and kafkajs' logs routed to
 * winston: once a minute per message at most (a broker outage repeats the same lines per request;
 * mistbridge's own counters and /readyz carry the rest).
 */
export function createKafka(config: KafkaConfig, logger: Logger): Kafka {
  const throttle = new LogThrottle(logger);
  const options: KafkaJsConfig = {
    clientId: config.clientId,
    brokers: config.brokers,
    connectionTimeout: 3000,
    requestTimeout: 10000,
    // Retries are bounded here and decided by each caller (the ingress has INGRESS_TIMEOUT_MS to keep).
    retry: { retries: 5, initialRetryTime: 200, maxRetryTime: 5000 },
    logLevel: logLevel.WARN,
    logCreator:
      () =>
      ({ level, log }: LogEntry) => {
        const { message, ...extra } = log;
        if (level > logLevel.WARN) return logger.debug(`kafka: ${message}`, extra);
        throttle.log(level <= logLevel.ERROR ? 'error' : 'warn', String(message), `kafka: ${message}`, extra);
      },
  };
  if (config.ssl) {
    options.ssl = {
      rejectUnauthorized: config.ssl.rejectUnauthorized,
      ...(config.ssl.caFile ? { ca: [readFileSync(config.ssl.caFile, 'utf8')] } : {}),
    };
  }
  if (config.sasl) {
    const { mechanism, username, password } = config.sasl;
    options.sasl =
      mechanism === 'plain'
        ? { mechanism, username, password }
        : mechanism === 'scram-sha-256'
          ? { mechanism, username, password }
          : { mechanism, username, password };
  }
  return new Kafka(options);
}
