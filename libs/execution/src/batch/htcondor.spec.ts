/**
 * The HTCondor adapter's formats, checked without HTCondor: the submit
 * description it writes (read back by the stand-in's independent reader,
 * test/fixtures/condor/fakecondor.js), and the job event logs it reads, in
 * HTCondor's exact forms (samples in test/fixtures/condor/*.log, written from
 * condor_event.cpp's formatBody/formatHeader and jsonSink.cpp).
 */
import * as fs from 'node:fs';
import { createRequire } from 'node:module';
import * as os from 'node:os';
import * as path from 'node:path';
import type { BatchSpec, BatchStatus } from './batch-system';
import {
  applyEvent,
  argumentsValue,
  environmentValue,
  HtcondorBatch,
  nodeOf,
  parseEventLog,
  parseSubmitExtra,
  submitDescription,
  submitLiteral,
} from './htcondor';

const FIXTURES = path.join(__dirname, '../../../../test/fixtures/condor');
const fake = createRequire(__filename)(path.join(FIXTURES, 'fakecondor.js')) as {
  expandMacros(v: string, ids: { cluster: number; proc: number }): string;
  readSubmit(text: string): {
    commands: Record<string, string>;
    attributes: Record<string, string>;
  };
  readArguments(v: string): string[];
  readEnvironment(v: string): Record<string, string>;
  classadValue(v: string): string;
};

const NASTY_ARGS = ['--nologger', 'two words', "it's", 'say "hi"', '$(x)', '', "a'b c", 'cost $$5'];
const NASTY_ENV = { HOME: '/home/wfs', MSG: 'a b', Q: `x"y'z`, D: '$(HOME)', EMPTY: '' };

function spec(over: Partial<BatchSpec> = {}): BatchSpec {
  return {
    name: 'wfs-7-calib-3',
    runId: 7,
    job: 'calib',
    index: 3,
    attempt: 2,
    executable: '/opt/casa/bin/casa',
    args: NASTY_ARGS,
    env: NASTY_ENV,
    cwd: '/data/run 7/work',
    stdoutPath: '/data/run 7/logs/calib.3.out',
    stderrPath: '/data/run 7/logs/calib.3.err',
    workDir: '/data/run 7/logs',
    cpus: 4,
    memoryMb: 8192.5,
    gpus: 1,
    labels: ['casa', 'lustre'],
    timeoutSeconds: 3600,
    ...over,
  };
}

describe('submit description', () => {
  test('the exact lines for nasty arguments and environment', () => {
    const text = submitDescription(spec(), [
      ['accounting_group', 'group_radio.wfs'],
      ['+ProjectName', '"RADPS"'],
    ]);
    expect(text.split('\n')).toEqual([
      '# wfs run 7, calib[3], attempt 2: written by wfs for condor_submit -terse',
      'universe = vanilla',
      'executable = /opt/casa/bin/casa',
      `arguments = "--nologger 'two words' 'it''s' 'say ""hi""' $(DOLLAR)(x) '' 'a''b c' 'cost $$(DOLLARDOLLAR)5'"`,
      'initialdir = /data/run 7/work',
      'output = /data/run 7/logs/calib.3.out',
      'error = /data/run 7/logs/calib.3.err',
      'log = /data/run 7/logs/calib.3.a2.log',
      'getenv = false',
      `environment = "HOME=/home/wfs 'MSG=a b' 'Q=x""y''z' D=$(DOLLAR)(HOME) EMPTY="`,
      'should_transfer_files = NO',
      'request_cpus = 4',
      'request_memory = 8193',
      'request_gpus = 1',
      'requirements = stringListMember("casa", TARGET.WfsLabels) && stringListMember("lustre", TARGET.WfsLabels)',
      'periodic_remove = (JobStatus == 2) && (time() - EnteredCurrentStatus > 3600)',
      'batch_name = wfs-7-calib-3',
      '+WfsRunId = 7',
      '+WfsJob = "calib[3]"',
      '+WfsAttempt = 2',
      'accounting_group = group_radio.wfs',
      '+ProjectName = "RADPS"',
      'queue 1',
      '',
    ]);
  });

  test('no gpus, labels or time limit: no such lines', () => {
    const text = submitDescription(
      spec({ gpus: 0, labels: [], timeoutSeconds: 0, args: [], env: {} }),
    );
    expect(text).not.toMatch(/request_gpus|requirements|periodic_remove/);
    expect(text).toContain('\narguments = ""\n');
    expect(text).toContain('\nenvironment = ""\n');
  });

  test('the manual examples of the new syntax', () => {
    // condor_submit(1): arguments = "one ""two"" 'spacey ''quoted'' argument'"
    expect(argumentsValue(['one', '"two"', "spacey 'quoted' argument"])).toBe(
      `"one ""two"" 'spacey ''quoted'' argument'"`,
    );
    // condor_submit(1): environment = "one=1 two=""2"" three='spacey ''quoted'' value'"
    expect(environmentValue({ one: '1', two: '"2"', three: "spacey 'quoted' value" })).toBe(
      `"one=1 two=""2"" 'three=spacey ''quoted'' value'"`,
    );
    expect(submitLiteral('$$$(a)$b')).toBe('$$(DOLLARDOLLAR)$(DOLLAR)(a)$(DOLLAR)b');
  });

  test('what a submit description cannot carry is refused, not mangled', () => {
    expect(() => submitDescription(spec({ args: ['a\nb'] }))).toThrow(/argument 1 holds a newline/);
    expect(() => submitDescription(spec({ env: { A: 'x\ry' } }))).toThrow(/environment variable A/);
    expect(() => submitDescription(spec({ env: { 'A=B': 'x' } }))).toThrow(/not NAME/);
    expect(() => submitDescription(spec({ cwd: '/data/x ' }))).toThrow(/white space/);
    expect(() => submitDescription(spec({ executable: '/bin/x\\' }))).toThrow(/backslash/);
  });

  test("the stand-in's independent reader gets back exactly the arguments and environment", () => {
    const tricky = [
      ...NASTY_ARGS,
      '\ttab',
      "''",
      '""',
      "'",
      '"',
      ' leading',
      'trailing ',
      '$',
      '$$',
      '$$$(DOLLAR)',
      '$ENV(HOME)',
      '#not a comment',
      '\\',
      'é ünïcödé',
      'a=b',
    ];
    const env = { ...NASTY_ENV, T: '\t', S: ' ', P: '$$(Memory)', U: 'ü', BS: 'C:\\dir\\' };
    const { commands } = fake.readSubmit(submitDescription(spec({ args: tricky, env })));
    const ids = { cluster: 1, proc: 0 };
    expect(fake.readArguments(fake.expandMacros(commands.arguments, ids))).toEqual(tricky);
    expect(fake.readEnvironment(fake.expandMacros(commands.environment, ids))).toEqual(env);
    expect(fake.expandMacros(commands.initialdir, ids)).toBe('/data/run 7/work');
  });

  test('one argument at a time round-trips too (empty, quotes alone, spaces alone)', () => {
    for (const a of ['', ' ', "'", '"', "''''", '""""', " ' ", '$(x)', 'x y z']) {
      const { commands } = fake.readSubmit(submitDescription(spec({ args: [a] })));
      expect(
        fake.readArguments(fake.expandMacros(commands.arguments, { cluster: 1, proc: 0 })),
      ).toEqual([a]);
    }
  });

  test('the job attributes', () => {
    const { attributes } = fake.readSubmit(submitDescription(spec()));
    expect(fake.classadValue(attributes.WfsJob)).toBe('calib[3]');
    expect(attributes.WfsRunId).toBe('7');
    expect(attributes.WfsAttempt).toBe('2');
  });
});

describe('WFS_CONDOR_SUBMIT_EXTRA', () => {
  test('good lines, comments and blank lines', () => {
    expect(
      parseSubmitExtra(
        [
          '# site defaults',
          'accounting_group = group_radio.wfs',
          '',
          '  +ProjectName = "RADPS"  ',
          'MY.SingularityImage = "/cvmfs/img/casa.sif"',
          'rank = Memory',
          'requirements_extra_not_a_command=1',
          'concurrency_limits = lustre:2',
          'notification = never',
        ].join('\n'),
      ),
    ).toEqual([
      ['accounting_group', 'group_radio.wfs'],
      ['+ProjectName', '"RADPS"'],
      ['MY.SingularityImage', '"/cvmfs/img/casa.sif"'],
      ['rank', 'Memory'],
      ['requirements_extra_not_a_command', '1'],
      ['concurrency_limits', 'lustre:2'],
      ['notification', 'never'],
    ]);
    expect(parseSubmitExtra('')).toEqual([]);
    expect(parseSubmitExtra('a = b\r\nc = d\r\n')).toEqual([
      ['a', 'b'],
      ['c', 'd'],
    ]);
  });

  test.each([
    ['executable = /bin/sh', /line 1 .*executable is set by wfs/],
    ['Arguments = "x"', /set by wfs/],
    ['ok = 1\nqueue 3', /line 2 .*not `key = value`/],
    ['queue = 3', /set by wfs/],
    ['environment = "A=1"', /set by wfs/],
    ['initialdir = /tmp', /set by wfs/],
    ['log = /tmp/x.log', /set by wfs/],
    ['getenv = true', /set by wfs/],
    ['+WfsRunId = 1', /set by wfs/],
    ['MY.Requirements = true', /set by wfs/],
    ['+Iwd = "/"', /set by wfs/],
    ['request_memory = 1', /set by wfs/],
    ['periodic_remove = true', /set by wfs/],
    ['1abc = x', /is not \[A-Za-z\+\]/],
    ['a-b = x', /is not/],
    ['+ = x', /not a ClassAd attribute/],
    ['+a.b = x', /not a ClassAd attribute/],
    ['just words', /not `key = value`/],
    ['a = b \\', /line continuation/],
    ['a = @=end', /multi-line/],
  ])('refuses %j', (text, why) => {
    expect(() => parseSubmitExtra(text)).toThrow(why);
  });
});

const fixture = (name: string) => fs.readFileSync(path.join(FIXTURES, name), 'utf8');

/** The status of one id after all of a log's events. */
function final(text: string, id: string): BatchStatus {
  const { events, consumed } = parseEventLog(text);
  expect(consumed).toBe(text.length);
  let s: BatchStatus = { state: 'pending' };
  let host: string | null = null;
  for (const e of events.filter((ev) => ev.id === id)) {
    s = applyEvent(s, e, host);
    if (e.type === 'executing' && e.host) host = e.host;
  }
  return s;
}

describe('job event log', () => {
  test('text form, ISO dates: the events, in order, and other clusters kept apart', () => {
    const { events } = parseEventLog(fixture('normal-iso.log'));
    expect(events.map((e) => [e.id, e.type])).toEqual([
      ['1234.0', 'submitted'],
      ['99.0', 'submitted'],
      ['1234.0', 'executing'],
      ['1234.0', 'other'],
      ['99.0', 'terminated'],
      ['1234.0', 'terminated'],
    ]);
    expect(events[2]).toMatchObject({ host: 'node7.example.org' });
    expect(final(fixture('normal-iso.log'), '1234.0')).toEqual({
      state: 'ended',
      end: { kind: 'exited', exitCode: 3, signal: null },
    });
    expect(final(fixture('normal-iso.log'), '99.0')).toMatchObject({ end: { exitCode: 0 } });
  });

  test('text form, old MM/DD dates: killed by a signal', () => {
    expect(final(fixture('signal-legacy.log'), '871.0')).toEqual({
      state: 'ended',
      end: { kind: 'exited', exitCode: null, signal: 'SIGKILL' },
    });
    const { events } = parseEventLog(fixture('signal-legacy.log'));
    expect(events[1]).toMatchObject({ type: 'executing', host: '10.0.0.9' });
  });

  test('held (reason and codes), released, running elsewhere, removed by a user (sub-second UTC dates)', () => {
    const text = fixture('held-released-removed.log');
    const { events } = parseEventLog(text);
    expect(events.map((e) => e.type)).toEqual([
      'submitted',
      'executing',
      'held',
      'released',
      'executing',
      'aborted',
    ]);
    let s: BatchStatus = { state: 'pending' };
    const seen: BatchStatus[] = [];
    for (const e of events) seen.push((s = applyEvent(s, e)));
    expect(seen[1]).toEqual({ state: 'running', node: 'node7.example.org' });
    expect(seen[2]).toEqual({
      state: 'held',
      reason:
        'Error from slot1_3@node7.example.org: Job has gone over cgroup memory limit of 2048 megabytes. Last measured usage: 2051 megabytes.  Consider resubmitting with a higher request_memory. (Code 34 Subcode 0)',
    });
    expect(seen[3]).toEqual({ state: 'pending', reason: 'released' });
    expect(seen[4]).toEqual({ state: 'running', node: 'node8.example.org' });
    expect(seen[5]).toEqual({
      state: 'ended',
      end: { kind: 'removed', message: 'via condor_rm (by user alice)' },
    });
  });

  test('evicted: the attempt is lost (and what HTCondor does next does not revive it)', () => {
    expect(final(fixture('evicted.log'), '1400.0')).toEqual({
      state: 'ended',
      end: { kind: 'lost', message: 'evicted from node7.example.org' },
    });
  });

  test("removed by wfs's periodic_remove: the time limit", () => {
    const s = final(fixture('periodic-remove.log'), '1500.0');
    expect(s).toMatchObject({ state: 'ended', end: { kind: 'timeout' } });
    expect(s.state === 'ended' && s.end.kind === 'timeout' && s.end.message).toContain(
      'PeriodicRemove',
    );
  });

  test('a shadow exception sends the job back to idle', () => {
    expect(final(fixture('shadow-exception.log'), '1600.0')).toEqual({
      state: 'pending',
      reason:
        "shadow exception: Error from slot1_3@node7.example.org: Failed to open '/data/run7/logs/x.out' as standard output: Permission denied (errno 13)",
    });
  });

  test('JSON form (DEFAULT_USERLOG_FORMAT_OPTIONS = JSON)', () => {
    const text = fixture('events.json.log');
    const { events } = parseEventLog(text);
    expect(events.map((e) => e.type)).toEqual([
      'submitted',
      'executing',
      'other',
      'held',
      'released',
      'executing',
      'terminated',
    ]);
    expect(events[1]).toMatchObject({ host: 'node7.example.org' });
    expect(events[3]).toMatchObject({ holdCode: 34, holdSubcode: 0 });
    expect(events[5]).toMatchObject({ host: 'node8.example.org' });
    expect(final(text, '1700.0')).toEqual({
      state: 'ended',
      end: { kind: 'exited', exitCode: 0, signal: null },
    });
    expect(final(fixture('signal.json.log'), '1800.0')).toEqual({
      state: 'ended',
      end: { kind: 'exited', exitCode: null, signal: 'SIGSEGV' },
    });
  });

  test('JSON objects separated by `...` lines are read too', () => {
    const text = fixture('signal.json.log').replace(/\n}\n/g, '\n}\n...\n');
    expect(final(text, '1800.0')).toMatchObject({ end: { signal: 'SIGSEGV' } });
  });

  test('a partly written last event is not consumed, at any cut', () => {
    for (const name of ['held-released-removed.log', 'events.json.log']) {
      const text = fixture(name);
      const whole = parseEventLog(text).events;
      for (let cut = 0; cut < text.length; cut++) {
        const { events, consumed } = parseEventLog(text.slice(0, cut));
        expect(events).toEqual(whole.slice(0, events.length));
        // What is left is read again, with the rest, into the same events.
        const rest = parseEventLog(text.slice(consumed));
        expect([...events, ...rest.events]).toEqual(whole);
      }
    }
  });

  test('node names', () => {
    expect(nodeOf('<10.0.0.7:9618?addrs=10.0.0.7-9618&alias=n7.example&noUDP>', null)).toBe(
      'n7.example',
    );
    expect(nodeOf('<10.0.0.7:9618?sock=x>', null)).toBe('10.0.0.7');
    expect(nodeOf('<10.0.0.7:9618>', 'slot1_2@n8')).toBe('n8');
    expect(nodeOf(null, null)).toBeNull();
  });
});

describe('incremental reading', () => {
  let dir: string;
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-condor-spec-'));
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  test('a half-written event (cut inside a multi-byte character) waits; a restart reads from 0', async () => {
    const s = spec({ workDir: dir, job: 'img', index: 0, attempt: 1 });
    const log = path.join(dir, 'img.0.a1.log');
    const batch = new HtcondorBatch({ bin: null, submitExtra: [], env: {} });
    const st = async (b = batch) => (await b.status([{ id: '1300.0', spec: s }])).get('1300.0');

    expect(await st()).toEqual({ state: 'pending', reason: 'no job event log yet' });
    const text = fixture('held-released-removed.log').replace('Job has gone', 'Job (ñ) has gone');
    const buf = Buffer.from(text, 'utf8');
    const heldAt = buf.indexOf('(ñ)') + 2; // inside the two bytes of ñ
    fs.writeFileSync(log, buf.subarray(0, heldAt));
    expect(await st()).toEqual({ state: 'running', node: 'node7.example.org' });
    fs.appendFileSync(log, buf.subarray(heldAt, buf.indexOf('Code 34')));
    expect(await st()).toEqual({ state: 'running', node: 'node7.example.org' });
    fs.appendFileSync(log, buf.subarray(buf.indexOf('Code 34'), buf.indexOf('013 (')));
    expect(await st()).toMatchObject({
      state: 'held',
      reason: expect.stringContaining('Job (ñ) has gone over'),
    });
    fs.appendFileSync(log, buf.subarray(buf.indexOf('013 (')));
    expect(await st()).toMatchObject({ state: 'ended', end: { kind: 'removed' } });

    // A new adapter (wfs restarted) re-reads from the start and agrees.
    const again = new HtcondorBatch({ bin: null, submitExtra: [], env: {} });
    expect(await st(again)).toMatchObject({ state: 'ended', end: { kind: 'removed' } });
    expect(await again.find(s)).toBe('1300.0');
    expect(await again.find(spec({ workDir: dir, job: 'img', index: 0, attempt: 2 }))).toBeNull();
  });
});
