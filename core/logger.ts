// Structured logs: one pino root, a child per component ({component: 'worker'}).
import pino, { type Logger, type LoggerOptions } from 'pino';

export type { Logger };

export function createLogger(options: { level?: string; destination?: pino.DestinationStream } = {}): Logger {
  const opts: LoggerOptions = { level: options.level ?? 'info', base: undefined };
  return options.destination ? pino(opts, options.destination) : pino(opts);
}

export function componentLogger(root: Logger, component: string): Logger {
  return root.child({ component });
}
