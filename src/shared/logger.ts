import winston from 'winston';

export type Logger = winston.Logger;

/** JSON lines on stdout; one logger per process, children carry the role. */
export function createLogger(level: string): Logger {
  return winston.createLogger({
    level,
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: true }), winston.format.json()),
    defaultMeta: { service: 'mistbridge' },
    transports: [new winston.transports.Console()],
  });
}

/** A logger that writes nothing, for tests and one-shot commands. */
export function silentLogger(): Logger {
  return winston.createLogger({ silent: true, transports: [new winston.transports.Console({ silent: true })] });
}
