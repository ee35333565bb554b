import { pino, type Logger } from 'pino';

export type { Logger };

/**
 * Logs go to stderr: in stdio mode stdout carries MCP. Secrets (tokens) are redacted wherever a
 * caller might pass them in a log object.
 */
export function createLogger(level: string = process.env.BERTH_LOG_LEVEL ?? 'info'): Logger {
  return pino(
    {
      name: 'berth',
      level,
      redact: { paths: ['token', '*.token', 'authorization', '*.authorization', 'headers.authorization'], censor: '[redacted]' },
    },
    pino.destination({ fd: 2, sync: false }),
  );
}

/** A logger that drops everything (unit tests). */
export function silentLogger(): Logger {
  return pino({ level: 'silent' });
}
