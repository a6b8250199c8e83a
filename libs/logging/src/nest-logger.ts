import type { LoggerService } from '@nestjs/common';
import type { Pino } from './logger';
import { scrub } from './scrub';

type Level = 'debug' | 'info' | 'warn' | 'error' | 'fatal';

/** Nest's own start-up chatter (a line per module and per route): debug, not info. */
const CHATTY = new Set([
  'InstanceLoader',
  'RoutesResolver',
  'RouterExplorer',
  'NestFactory',
  'NestApplication',
]);

/**
 * Nest's Logger routed to pino, so every `new Logger(context).log(...)` writes
 * the process's JSON lines. A message may be a string or an object of fields
 * with its text under `msg` (`log.log({ msg: 'job started', runId, job })`);
 * the Logger's context becomes the `context` field.
 */
export class NestPinoLogger implements LoggerService {
  constructor(private readonly pino: Pino) {}

  log(message: unknown, ...optional: unknown[]): void {
    this.write('info', message, optional);
  }
  error(message: unknown, ...optional: unknown[]): void {
    this.write('error', message, optional);
  }
  warn(message: unknown, ...optional: unknown[]): void {
    this.write('warn', message, optional);
  }
  debug(message: unknown, ...optional: unknown[]): void {
    this.write('debug', message, optional);
  }
  verbose(message: unknown, ...optional: unknown[]): void {
    this.write('debug', message, optional);
  }
  fatal(message: unknown, ...optional: unknown[]): void {
    this.write('fatal', message, optional);
  }

  private write(level: Level, message: unknown, optional: unknown[]): void {
    // Nest passes the context last; error() may pass a stack before it.
    const last = optional[optional.length - 1];
    const context = typeof last === 'string' && !last.includes('\n') ? last : undefined;
    const stack = optional.find((p) => typeof p === 'string' && p.includes('\n')) as
      string | undefined;
    if (context && CHATTY.has(context) && level === 'info') level = 'debug';
    if (!this.pino.isLevelEnabled(level)) return;
    const fields: Record<string, unknown> = context ? { context } : {};
    let msg: string;
    if (message instanceof Error) {
      msg = scrub(message.message);
      fields.stack = scrub(message.stack ?? '');
    } else if (message !== null && typeof message === 'object') {
      const { msg: text, message: alt, ...rest } = message as Record<string, unknown>;
      Object.assign(fields, rest);
      msg = scrub(String(text ?? alt ?? ''));
    } else {
      msg = scrub(String(message));
    }
    if (stack) fields.stack = scrub(stack);
    this.pino[level](fields, msg);
  }
}
