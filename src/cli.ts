#!/usr/bin/env node
import { DataDirError } from './bus/embedded/embedded-bus';
import { ConfigError, loadConfig } from './config/load';
import { ROLES, type Role } from './config/variables';
import { dlqCommand } from './commands/dlq';
import { doctorCommand } from './commands/doctor';
import { REDELIVER_USAGE, redeliverCommand } from './commands/redeliver';
import { CommandError, processOutput } from './commands/common';
import { tailCommand } from './commands/tail';
import { collectFiles, replay } from './replay/replay';
import { webhookPathTenant, tenantKey } from './domain/webhook-path';
import { secretBookOf } from './ingress/secrets';
import { run } from './runtime/run';
import { createLogger } from './shared/logger';
import { quietKafkajsTimerWarning } from './shared/warnings';

const USAGE = `usage:
  mistbridge run [--roles ${ROLES.join(',')}]   run roles (default: all; env MISTBRIDGE_ROLES)
  mistbridge replay <file|dir>... [--org ORG[/SITE]] [--url URL]
                                                  post Mist webhook bodies, signed with MIST_WEBHOOK_SECRET
                                                  (--org: to that tenant's path, with its keyed secret)
  mistbridge topics                               create the Kafka topics (needs KAFKA_BROKERS)
  mistbridge redeliver --from T --until T (--sink splunk | --route NAME) [--topic T]... [--site S]...
                       [--margin 1h] [--dry-run]  deliver a time window again (mistbridge redeliver --help)
  mistbridge dlq list|show|redrive|purge ...      read, redrive and purge dead letters
  mistbridge tail [--topic T] [--site S] [--severity S] [--incidents] [--json] [--url URL]
                                                  normalized events (and incidents) live
  mistbridge doctor [--url URL] [--all] [--keyed] check the Mist webhooks that point here (needs MIST_API_TOKEN);
                                                  --keyed: print them as keyed secrets-file lines
configuration: environment variables, see README.md`;

async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  const flag = (name: string): string | undefined => {
    const index = rest.indexOf(name);
    if (index < 0) return undefined;
    const value = rest[index + 1];
    if (value === undefined || value.startsWith('--')) throw new ConfigError([`${name}: needs a value`]);
    rest.splice(index, 2);
    return value;
  };
  switch (command) {
    case 'run': {
      const rolesFlag = flag('--roles');
      const roles = rolesFlag?.split(',').map((r) => r.trim()).filter(Boolean);
      const unknown = roles?.filter((r) => !(ROLES as readonly string[]).includes(r)) ?? [];
      if (unknown.length > 0 || (roles && roles.length === 0)) throw new ConfigError([`--roles: must be a comma-separated subset of ${ROLES.join(',')}`]);
      const config = loadConfig(process.env, roles ? { roles: roles as Role[] } : {});
      const logger = createLogger(config.logLevel);
      // Handlers before the ready line: a supervisor may signal as soon as it reads it (a signal
      // during start-up stops the process once it has started, the journal closed cleanly).
      let signals = 0;
      let stopRequested = (): void => undefined;
      const stopped = new Promise<void>((resolve) => (stopRequested = resolve));
      const onSignal = (signal: string): void => {
        if (++signals > 1) process.exit(1);
        logger.info('shutting down', { signal });
        stopRequested();
      };
      process.on('SIGTERM', onSignal);
      process.on('SIGINT', onSignal);
      const runtime = await run(config, logger);
      await stopped;
      await runtime.stop().catch((err: Error) => {
        logger.error('shutdown failed', { error: err.message });
        process.exit(1);
      });
      return 0;
    }
    case 'replay': {
      const config = loadConfig(process.env, { roles: [] });
      // --org <org_id>[/<site_id>]: that tenant's path, signed with its secret (the keyed lines' first).
      const key = flag('--org');
      const tenant = key === undefined ? null : webhookPathTenant(`/webhooks/mist/${key}`);
      if (tenant === undefined) throw new ConfigError(['--org: <org_id> or <org_id>/<site_id> (UUIDs)']);
      const url = flag('--url') ?? `http://127.0.0.1:${config.http.port}/webhooks/mist${tenant ? `/${tenantKey(tenant)}` : ''}`;
      if (rest.length === 0) throw new ConfigError(['replay: name at least one file or directory']);
      const secret = secretBookOf(config.auth).forTenant(tenant)[0] ?? null;
      const failed = await replay(collectFiles(rest), { url, secret, token: config.auth.token });
      return failed === 0 ? 0 : 1;
    }
    case 'topics': {
      const config = loadConfig(process.env, { roles: [] });
      if (!config.kafka) throw new ConfigError(['KAFKA_BROKERS: required by `mistbridge topics`']);
      const { createTopics } = await import('./bus/kafka/create-topics');
      const created = await createTopics(config, createLogger(config.logLevel));
      process.stdout.write(`${created.map((t) => `${t.created ? 'created' : 'exists '} ${t.topic}`).join('\n')}\n`);
      return 0;
    }
    case 'dlq': {
      const config = loadConfig(process.env, { roles: [] });
      return dlqCommand(rest, config, processOutput);
    }
    case 'doctor': {
      const config = loadConfig(process.env, { roles: [] });
      return doctorCommand(rest, config, createLogger('error'), processOutput);
    }
    case 'redeliver': {
      if (rest.includes('--help')) {
        process.stdout.write(`${REDELIVER_USAGE}\n`);
        return 0;
      }
      const config = loadConfig(process.env, { roles: [] });
      return redeliverCommand(rest, config, createLogger('warn'), processOutput, { terminal: process.stderr.isTTY ? (text) => void process.stderr.write(text) : undefined });
    }
    case 'tail': {
      const config = loadConfig(process.env, { roles: [] });
      const stop = new Promise<void>((resolve) => {
        process.once('SIGINT', resolve);
        process.once('SIGTERM', resolve);
      });
      // Colour only on a terminal, and never with NO_COLOR set (no-color.org).
      const colour = process.stdout.isTTY === true && !process.env.NO_COLOR;
      return tailCommand(rest, config, processOutput, { colour, until: stop });
    }
    case undefined:
    case '-h':
    case '--help':
    case 'help':
      process.stdout.write(`${USAGE}\n`);
      return command === undefined ? 2 : 0;
    default:
      process.stderr.write(`unknown command ${command}\n${USAGE}\n`);
      return 2;
  }
}

quietKafkajsTimerWarning();
main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err: Error) => {
    const usage = err instanceof ConfigError || err instanceof DataDirError;
    process.stderr.write(`${usage || err instanceof CommandError ? err.message : (err.stack ?? err.message)}\n`);
    process.exit(usage ? 2 : 1);
  },
);
