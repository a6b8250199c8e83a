import { Writable } from 'node:stream';
import { createLogger } from './logger';
import { NestPinoLogger } from './nest-logger';
import { scrub } from './scrub';

test('scrub masks URL passwords and bearer tokens and drops ANSI escapes', () => {
  expect(scrub('connect amqp://wfs:s3cret@mq:5672/ failed')).toBe(
    'connect amqp://wfs:***@mq:5672/ failed',
  );
  expect(scrub('postgres://svc:p%40ss@db/wfs')).toBe('postgres://svc:***@db/wfs');
  expect(scrub('header Authorization: Bearer abc.def-123')).toBe(
    'header Authorization: Bearer [redacted]',
  );
  expect(scrub('\x1b[31mred\x1b[0m plain')).toBe('red plain');
  expect(scrub('nothing to hide')).toBe('nothing to hide');
});

test('Nest messages become JSON lines with their fields, redacted keys and context', () => {
  const lines: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _e, done) {
      lines.push(chunk.toString());
      done();
    },
  });
  const pino = createLogger({ process: 'worker', level: 'info', format: 'json', destination });
  const nest = new NestPinoLogger(pino);
  nest.log({ msg: 'job started', runId: 4, job: 'casa', token: 'tok-secret' }, 'job');
  nest.warn('amqp://u:pw@h failed', 'messaging');
  nest.debug('not written at info', 'x');
  nest.log('Mapped {/x, GET} route', 'RouterExplorer');
  const parsed = lines.map((l) => JSON.parse(l));
  expect(parsed).toHaveLength(2);
  expect(parsed[0]).toMatchObject({
    level: 'info',
    msg: 'job started',
    process: 'worker',
    context: 'job',
    runId: 4,
    job: 'casa',
    token: '[redacted]',
  });
  expect(typeof parsed[0].time).toBe('string');
  expect(parsed[1]).toMatchObject({ level: 'warn', msg: 'amqp://u:***@h failed' });
  expect(lines.join('')).not.toContain('tok-secret');
});
