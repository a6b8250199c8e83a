import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { BatchSpec } from './batch-system';
import {
  batchScript,
  mapState,
  parseExitCode,
  parseSacct,
  parseSbatch,
  parseScontrol,
  parseSqueue,
  sbatchArgs,
  scriptName,
  shQuote,
  SlurmBatch,
  ToolResult,
} from './slurm';

const spec = (over: Partial<BatchSpec> = {}): BatchSpec => ({
  name: 'wfs-7-calib-0',
  runId: 7,
  job: 'calib',
  index: 0,
  attempt: 2,
  executable: '/bin/true',
  args: [],
  env: { HOME: '/home/x' },
  cwd: '/tmp',
  stdoutPath: '/logs/calib.0.out',
  stderrPath: '/logs/calib.0.err',
  workDir: '/logs',
  cpus: 2,
  memoryMb: 0,
  gpus: 0,
  labels: [],
  timeoutSeconds: 3600,
  ...over,
});

// Outputs captured from Slurm 22.05.8 (Debian 12 slurm-wlm), one-node cluster of test/support/slurm.ts.
const SQUEUE = `7|CANCELLED|Priority|
8|CANCELLED|BeginTime|
2|COMPLETED|None|nc21fb5
3|FAILED|NonZeroExitCode|nc21fb5
4|FAILED|JobLaunchFailure|nc21fb5
9|PENDING|Resources|
6|PENDING|JobHeldAdmin|
5|PENDING|JobHeldUser|
1|RUNNING|None|nc21fb5
`;
const SCONTROL_FAILED =
  'JobId=13 JobName=x3 UserId=root(0) GroupId=root(0) MCS_label=N/A Priority=4294901747 Nice=0 Account=(null) QOS=(null) JobState=FAILED Reason=NonZeroExitCode Dependency=(null) Requeue=1 Restarts=0 BatchFlag=1 Reboot=0 ExitCode=3:0 RunTime=00:00:00 TimeLimit=UNLIMITED TimeMin=N/A SubmitTime=2026-12-01T13:25:35 EligibleTime=2026-12-01T13:25:35 AccrueTime=2026-12-01T13:25:35 StartTime=2026-12-01T13:25:35 EndTime=2026-12-01T13:25:35 Deadline=N/A SuspendTime=None SecsPreSuspend=0 LastSchedEval=2026-12-01T13:25:35 Scheduler=Main Partition=debug AllocNode:Sid=localhost:5260 ReqNodeList=(null) ExcNodeList=(null) NodeList=wfsnode BatchHost=wfsnode NumNodes=1 NumCPUs=1 NumTasks=1 CPUs/Task=1 ReqB:S:C:T=0:0:*:* TRES=cpu=1,mem=20000M,node=1,billing=1 Socks/Node=* NtasksPerN:B:S:C=0:0:*:* CoreSpec=* MinCPUsNode=1 MinMemoryNode=0 MinTmpDiskNode=0 Features=(null) DelayBoot=00:00:00 OverSubscribe=OK Contiguous=0 Licenses=(null) Network=(null) Command=/tmp/slx.Ebqf/w/x3.sh WorkDir=/tmp/slx.Ebqf/w Comment=wfs-attempt=2  StdErr=/dev/null StdIn=/dev/null StdOut=/dev/null Power= \n';
const SACCT_C = `2|COMPLETED|0:0|nc21fb5
8|CANCELLED|0:0|(null)
7|CANCELLED|0:0|(null)
3|FAILED|3:0|nc21fb5
4|FAILED|0:9|nc21fb5
9|COMPLETED|0:0|nc21fb5
1|NODE_FAIL|0:0|n81980e
`;

describe('Slurm batch script', () => {
  it('quotes single quotes the sh way', () => {
    expect(shQuote("it's")).toBe(`'it'\\''s'`);
    expect(shQuote('')).toBe(`''`);
  });

  it('names the script from the spec alone', () => {
    expect(scriptName(spec({ job: 'cal/ib x', index: 3, attempt: 4 }))).toBe(
      'cal_ib_x.3.a4.sbatch',
    );
  });

  it('runs the executable with exactly spec.env, nasty args intact, in cwd', () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-slurm-spec-'));
    try {
      const nasty = [
        "it's",
        'two words',
        '$(touch pwned)',
        '`touch pwned2`',
        'a\nb',
        '"dq"',
        '\\',
        '*',
        '',
        '-n',
        "'",
        "'\\''",
      ];
      const env = { ZED: "v'1 $(x)\nline2", EMPTY: '', PATH: '/nowhere' };
      const s = spec({
        executable: process.execPath,
        args: [
          '-e',
          'process.stdout.write(JSON.stringify({a:process.argv.slice(1),e:process.env,c:process.cwd()}))',
          ...nasty,
        ],
        env,
        cwd: dir,
      });
      const script = path.join(dir, 'x.sbatch');
      fs.writeFileSync(script, batchScript(s), { mode: 0o700 });
      const out = JSON.parse(
        execFileSync(script, [], {
          cwd: '/',
          env: { LEAK: '1', PATH: process.env.PATH },
        }).toString(),
      );
      expect(out.a).toEqual(nasty);
      expect(out.e).toEqual(env);
      expect(out.c).toBe(dir);
      expect(fs.existsSync(path.join(dir, 'pwned'))).toBe(false);
      expect(fs.existsSync(path.join(dir, 'pwned2'))).toBe(false);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses what env -i cannot pass', () => {
    expect(() => batchScript(spec({ env: { 'A=B': 'x' } }))).toThrow(/cannot be passed/);
    expect(() => batchScript(spec({ executable: '/opt/a=b/run' }))).toThrow(/contains '='/);
  });
});

describe('sbatch arguments', () => {
  const o = { partition: null, account: null, extra: [] };
  it('asks what the spec needs and no more', () => {
    const args = sbatchArgs(spec(), '/logs/x.sbatch', o);
    expect(args).toEqual([
      '--parsable',
      '--job-name=wfs-7-calib-0',
      '--comment=wfs-attempt=2',
      '--chdir=/tmp',
      '--output=/logs/calib.0.out',
      '--error=/logs/calib.0.err',
      '--open-mode=append',
      '--no-requeue',
      '--cpus-per-task=2',
      '--time=61',
      '--export=ALL',
      '/logs/x.sbatch',
    ]);
  });
  it('memory, GPUs, features, partition, account, extra; a minute of grace over the rounded-up limit', () => {
    const args = sbatchArgs(
      spec({ cpus: 0, memoryMb: 2048, gpus: 1, labels: ['avx2', 'big'], timeoutSeconds: 61 }),
      '/s',
      {
        partition: 'p',
        account: 'a',
        extra: ['--qos=low'],
      },
    );
    expect(args).toEqual(
      expect.arrayContaining([
        '--cpus-per-task=1',
        '--mem=2048M',
        '--gres=gpu:1',
        '--constraint=avx2&big',
        '--time=3',
        '--partition=p',
        '--account=a',
        '--qos=low',
      ]),
    );
    expect(args.indexOf('--qos=low')).toBeLessThan(args.indexOf('--export=ALL'));
    expect(args[args.length - 1]).toBe('/s');
  });
  it('refuses a label that would change the constraint expression', () => {
    expect(() => sbatchArgs(spec({ labels: ['a|b'] }), '/s', o)).toThrow(/feature name/);
  });
  it('reads the id of --parsable', () => {
    expect(parseSbatch('42\n')).toBe('42');
    expect(parseSbatch('42;cluster1\n')).toBe('42');
    expect(parseSbatch('')).toBeNull();
  });
});

describe('Slurm outputs', () => {
  it('parses squeue rows', () => {
    const rows = parseSqueue(SQUEUE);
    expect(rows).toHaveLength(9);
    expect(rows[0]).toEqual({ id: '7', state: 'CANCELLED', reason: 'Priority', node: '' });
    expect(rows[8]).toEqual({ id: '1', state: 'RUNNING', reason: 'None', node: 'nc21fb5' });
  });
  it('parses scontrol -o, first field of a name winning', () => {
    const f = parseScontrol(SCONTROL_FAILED);
    expect(f).toMatchObject({
      JobState: 'FAILED',
      Reason: 'NonZeroExitCode',
      ExitCode: '3:0',
      NodeList: 'wfsnode',
      Comment: 'wfs-attempt=2',
    });
    expect(f.ReqNodeList).toBe('(null)');
  });
  it('parses sacct -c (and sacct with a database: "CANCELLED by 0")', () => {
    const rows = parseSacct(SACCT_C);
    expect(rows.get('4')).toEqual({
      id: '4',
      state: 'FAILED',
      exitCode: '0:9',
      node: 'nc21fb5',
      detail: '',
    });
    expect(parseSacct('5|CANCELLED by 0|0:15|n1\n').get('5')).toMatchObject({
      state: 'CANCELLED',
      detail: 'by 0',
    });
  });
  it('reads ExitCode code:signal', () => {
    expect(parseExitCode('3:0')).toEqual({ exitCode: 3, signal: null });
    expect(parseExitCode('0:9')).toEqual({ exitCode: null, signal: 'SIGKILL' });
    expect(parseExitCode('garbage')).toBeNull();
  });
});

describe('Slurm states as wfs sees them', () => {
  it.each([
    [['PENDING', 'Resources', '', null], { state: 'pending', reason: 'Resources' }],
    [['PENDING', 'JobHeldUser', '', null], { state: 'held', reason: 'JobHeldUser' }],
    [['PENDING', 'JobHeldAdmin', '', null], { state: 'held', reason: 'JobHeldAdmin' }],
    [['RUNNING', 'None', 'n1', null], { state: 'running', node: 'n1' }],
    [['CONFIGURING', 'None', 'n1', null], { state: 'running', node: 'n1' }],
    [['COMPLETING', 'None', 'n1', null], { state: 'running', node: 'n1' }],
    [['SUSPENDED', 'None', 'n1', null], { state: 'running', node: 'n1' }],
    [
      ['COMPLETED', 'None', 'n1', '0:0'],
      { state: 'ended', end: { kind: 'exited', exitCode: 0, signal: null } },
    ],
    [
      ['FAILED', 'NonZeroExitCode', 'n1', '3:0'],
      { state: 'ended', end: { kind: 'exited', exitCode: 3, signal: null } },
    ],
    [
      ['FAILED', 'JobLaunchFailure', 'n1', '0:9'],
      { state: 'ended', end: { kind: 'exited', exitCode: null, signal: 'SIGKILL' } },
    ],
    [
      ['FAILED', 'JobLaunchFailure', 'n1', '0:15'],
      { state: 'ended', end: { kind: 'exited', exitCode: null, signal: 'SIGTERM' } },
    ],
  ] as const)('%j', (args, want) => {
    expect(mapState(args[0], args[1], args[2], args[3])).toEqual(want);
  });

  it.each([
    ['FAILED', 'JobLaunchFailure', '0:53', 'failed_to_start'],
    ['FAILED', 'JobLaunchFailure', '0:1', 'failed_to_start'],
    ['CANCELLED', 'Priority', '0:0', 'removed'],
    ['TIMEOUT', 'TimeLimit', '0:15', 'timeout'],
    ['DEADLINE', 'DeadLine', '0:0', 'timeout'],
    ['OUT_OF_MEMORY', 'OutOfMemory', '0:125', 'out_of_memory'],
    ['NODE_FAIL', 'NodeDown', '0:0', 'lost'],
    ['PREEMPTED', 'None', '0:0', 'lost'],
    ['BOOT_FAIL', 'None', '0:0', 'failed_to_start'],
  ])('%s (%s, %s) ends as %s', (state, reason, code, kind) => {
    const s = mapState(state, reason, 'n1', code);
    expect(s).toMatchObject({ state: 'ended', end: { kind } });
    expect((s as { end: { message: string } }).end.message).toContain(state);
  });

  it('FAILED without an exit code asks for one', () => {
    expect(mapState('FAILED', 'NonZeroExitCode', 'n1', null)).toBeNull();
  });
  it('says who cancelled when sacct does', () => {
    expect(mapState('CANCELLED', '', '', '0:0', 'by 0')).toEqual({
      state: 'ended',
      end: { kind: 'removed', message: 'cancelled by uid 0' },
    });
  });
  it('a job put back in the queue by someone is pending (REQUEUE_HOLD held)', () => {
    expect(mapState('REQUEUED', 'None', '', null)).toMatchObject({ state: 'pending' });
    expect(mapState('REQUEUE_HOLD', 'None', '', null)).toMatchObject({ state: 'held' });
  });
});

/** SlurmBatch over canned tool outputs. */
class Canned extends SlurmBatch {
  calls: string[] = [];
  constructor(private readonly answer: (tool: string, args: string[]) => ToolResult) {
    super({ bin: null, partition: null, account: null, extra: [], env: {} });
  }
  override run(tool: string, args: string[]): Promise<ToolResult> {
    this.calls.push(`${tool} ${args.join(' ')}`);
    return Promise.resolve(this.answer(tool, args));
  }
}
const ok = (stdout: string): ToolResult => ({ code: 0, stdout, stderr: '' });
const fail = (stderr: string): ToolResult => ({ code: 1, stdout: '', stderr });

describe('SlurmBatch.status', () => {
  const jobs = (...ids: string[]) => ids.map((id) => ({ id, spec: spec() }));

  it('one squeue for all, scontrol for the FAILED one, sacct -c for the forgotten after learning accounting is off', async () => {
    const b = new Canned((tool, args) => {
      if (tool === 'squeue')
        return ok('1|RUNNING|None|n1\n3|FAILED|NonZeroExitCode|n1\n5|PENDING|JobHeldUser|\n');
      if (tool === 'scontrol') return ok(SCONTROL_FAILED);
      if (tool === 'sacct' && args[0] !== '-c') return fail('Slurm accounting storage is disabled');
      if (tool === 'sacct') return ok('4|FAILED|0:9|n1\n');
      throw new Error(tool);
    });
    const s = await b.status(jobs('1', '3', '5', '4', '99'));
    expect(s.get('1')).toEqual({ state: 'running', node: 'n1' });
    expect(s.get('3')).toEqual({
      state: 'ended',
      end: { kind: 'exited', exitCode: 3, signal: null },
    });
    expect(s.get('5')).toEqual({ state: 'held', reason: 'JobHeldUser' });
    expect(s.get('4')).toEqual({
      state: 'ended',
      end: { kind: 'exited', exitCode: null, signal: 'SIGKILL' },
    });
    expect(s.get('99')).toEqual({ state: 'unknown' });
    expect(b.calls).toEqual([
      'squeue -h -t all -j 1,3,5,4,99 -o %i|%T|%r|%N',
      'scontrol -o show job 3',
      'sacct -j 4,99 -X -n --parsable2 -o JobID,State,ExitCode,NodeList',
      'sacct -c -j 4,99 -X -n --parsable2 -o JobID,State,ExitCode,NodeList',
    ]);
    b.calls = [];
    await b.status(jobs('4'));
    expect(b.calls.filter((c) => c.startsWith('sacct'))).toEqual([
      'sacct -c -j 4 -X -n --parsable2 -o JobID,State,ExitCode,NodeList',
    ]);
  });

  it('a single id squeue no longer knows is not an error', async () => {
    const b = new Canned((tool) =>
      tool === 'squeue'
        ? fail('slurm_load_jobs error: Invalid job id specified')
        : ok('7|COMPLETED|0:0|n1\n'),
    );
    expect((await b.status(jobs('7'))).get('7')).toEqual({
      state: 'ended',
      end: { kind: 'exited', exitCode: 0, signal: null },
    });
  });

  it('a controller that does not answer is an error with its message', async () => {
    const b = new Canned(() =>
      fail('slurm_load_jobs error: Unable to contact slurm controller (connect failure)'),
    );
    await expect(b.status(jobs('1'))).rejects.toThrow(
      /squeue .* exited 1: slurm_load_jobs error: Unable to contact/,
    );
  });
});

describe('SlurmBatch.find and cancel', () => {
  it('finds the attempt by name and comment', async () => {
    const b = new Canned(() => ok('11|wfs-attempt=1\n12|wfs-attempt=2\n13|(null)\n'));
    expect(await b.find(spec({ attempt: 2 }))).toBe('12');
    expect(await b.find(spec({ attempt: 3 }))).toBeNull();
    expect(b.calls[0]).toBe('squeue -h -t all -n wfs-7-calib-0 -o %i|%k');
  });
  it('cancelling a job already gone is fine; another failure is not', async () => {
    await expect(
      new Canned(() =>
        fail('scancel: error: Kill job error on job id 9: Invalid job id specified'),
      ).cancel('9'),
    ).resolves.toBeUndefined();
    await expect(
      new Canned(() => fail('scancel: error: Unable to contact slurm controller')).cancel('9'),
    ).rejects.toThrow(/Unable to contact/);
  });
});
