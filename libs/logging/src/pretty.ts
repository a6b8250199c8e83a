import { Writable } from 'node:stream';

const COLOURS: Record<string, string> = {
  debug: '\x1b[90m',
  info: '\x1b[32m',
  warn: '\x1b[33m',
  error: '\x1b[31m',
  fatal: '\x1b[35m',
};
/** Fields every line has, shown in the line's head rather than as `key=value`. */
const HEAD = new Set(['time', 'level', 'msg', 'process', 'pid', 'context']);

/**
 * Lines for a person at a terminal: `12:00:01.123 INFO  worker job started
 * runId=12 job=casa`. Colour only where the output is a terminal.
 */
export function prettyStream(out: NodeJS.WriteStream = process.stdout): Writable {
  const colour = !!out.isTTY;
  return new Writable({
    write(chunk: Buffer, _encoding, done) {
      let line: Record<string, unknown>;
      try {
        line = JSON.parse(chunk.toString('utf8')) as Record<string, unknown>;
      } catch {
        out.write(chunk);
        return done();
      }
      const level = String(line.level ?? 'info');
      const time = String(line.time ?? '').slice(11, 23);
      const tag = level.toUpperCase().padEnd(5);
      const head = colour ? `${COLOURS[level] ?? ''}${tag}\x1b[0m` : tag;
      const context = line.context ? ` [${String(line.context)}]` : '';
      const rest = Object.entries(line)
        .filter(([k]) => !HEAD.has(k))
        .map(([k, v]) => `${k}=${typeof v === 'string' ? v : JSON.stringify(v)}`)
        .join(' ');
      out.write(
        `${time} ${head} ${String(line.process)}${context} ${String(line.msg)}${rest ? ` ${rest}` : ''}\n`,
      );
      done();
    },
  });
}
