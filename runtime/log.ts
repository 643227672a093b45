/**
 * One log stream for the whole cluster: pino JSON lines on one file descriptor, written
 * synchronously from whichever thread logs (no transport thread per worker). Every actor gets
 * a child logger bound to {actor, role}. LOG_LEVEL sets the level.
 */
import pino, { type Logger } from 'pino';

export interface LogOptions {
  level?: string;
  /** File descriptor or path; default 2 (stderr), so stdout stays for a program's output. */
  destination?: number | string;
  /** Custom clock for the `time` field (SimHost passes its virtual clock). */
  now?: () => number;
}

export function createLogger(options: LogOptions = {}): Logger {
  const level = options.level ?? process.env.LOG_LEVEL ?? 'info';
  const dest = pino.destination({ dest: options.destination ?? 2, sync: true, mkdir: true });
  const now = options.now;
  return pino(
    {
      level,
      base: undefined,
      timestamp: now ? () => `,"time":${now()}` : pino.stdTimeFunctions.epochTime,
    },
    dest,
  );
}

export type { Logger };
