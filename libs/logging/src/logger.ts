import pino, { Logger as Pino } from 'pino';
import { prettyStream } from './pretty';
import { scrub } from './scrub';

export type ProcessName = 'api' | 'worker';
export type { Pino };

export interface LogOptions {
  process: ProcessName;
  level: 'debug' | 'info' | 'warn' | 'error';
  format: 'json' | 'pretty';
  /** Where lines go (tests); stdout otherwise. */
  destination?: NodeJS.WritableStream;
}

/** Keys whose values are never written, wherever a caller puts them. */
const REDACT = [
  'authorization',
  'token',
  'password',
  'secret',
  '*.authorization',
  '*.token',
  '*.password',
  '*.secret',
  'headers.authorization',
  'req.headers.authorization',
];

/**
 * The process's one logger (CONTRACT 5.1): a JSON object a line with `time`
 * (ISO 8601), `level` (its name), `msg` and `process`; or, for a person at a
 * terminal, a pretty line. Messages are scrubbed of URL passwords, bearer
 * tokens and colour codes; the keys above are redacted.
 */
export function createLogger(o: LogOptions): Pino {
  const destination =
    o.destination ??
    (o.format === 'pretty' ? prettyStream() : pino.destination({ dest: 1, sync: true }));
  return pino(
    {
      level: o.level,
      base: { process: o.process, pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: REDACT, censor: '[redacted]' },
      hooks: {
        logMethod(args, method) {
          for (let i = 0; i < args.length; i++) {
            const a: unknown = args[i];
            if (typeof a === 'string') args[i] = scrub(a);
          }
          method.apply(this, args);
        },
      },
    },
    destination,
  );
}

/** For a failure before the configuration is read (it may be what failed): the format chosen as loadConfig would. */
export function bootLogger(processName: ProcessName): Pino {
  const format = process.env.WFS_LOG_FORMAT === 'pretty' ? 'pretty' : 'json';
  return createLogger({
    process: processName,
    level: 'info',
    format: process.env.WFS_LOG_FORMAT ? format : process.stdout.isTTY ? 'pretty' : 'json',
  });
}
