/**
 * A one-node Slurm of the test's own (Debian's slurm-wlm 22.05 and munge,
 * installed by scripts/ensure-slurm.sh): in a fresh directory, its own munged
 * (own key and socket, so the machine's munge is neither needed nor touched),
 * its own slurm.conf with free ports of its own, slurmctld and slurmd as child
 * processes in the foreground. Client tools (sbatch, squeue, scontrol, sacct,
 * scancel) need only `env` (SLURM_CONF) in their environment. Several clusters
 * may run at once; stop() puts everything back as found.
 *
 * Not exported from the support index: only the Slurm tests start one.
 */
import { ChildProcess, execFile, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';

export interface SlurmOptions {
  /** Seconds before slurmctld declares a silent slurmd's node failed (NODE_FAIL); 10 unless told. */
  slurmdTimeout?: number;
  /** The node's features (what `--constraint` asks for). */
  features?: string[];
  /** Seconds slurmctld keeps an ended job (then only sacct knows it); 300 unless told. */
  minJobAge?: number;
  /** How long to wait for the node to be idle at start (ms); 60 s unless told. */
  startTimeoutMs?: number;
  /**
   * The node as declared, larger than this host (`SlurmdParameters=config_overrides`): the
   * tests' jobs are simulators that use next to nothing, and std_calibration's casa asks for
   * 4 cpus and 16G. Unless told, the host's own cpus and 90% of its memory.
   */
  size?: { cpus: number; memoryMb: number };
}

export interface SlurmCluster {
  /** What the client tools need in their environment. */
  env: { SLURM_CONF: string };
  /** The cluster's own directory (conf, state, spool, logs, munge). */
  dir: string;
  nodeName: string;
  clusterName: string;
  /** SIGKILLs slurmd (its running jobs' slurmstepd live on until slurmctld gives up on the node). */
  killSlurmd(): Promise<void>;
  /** Starts slurmd again and waits until the node responds and is usable (idle, mixed or allocated). */
  startSlurmd(): Promise<void>;
  /** Cancels every job, stops the daemons and munged, removes the directory. */
  stop(): Promise<void>;
  /** The last lines of the daemons' logs (for a failing test's message). */
  logTail(lines?: number): string;
}

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function run(
  cmd: string,
  args: string[],
  env: NodeJS.ProcessEnv,
  input?: string,
  timeoutMs = 30_000,
): Promise<Run> {
  return new Promise((resolve) => {
    const child = execFile(
      cmd,
      args,
      { env, timeout: timeoutMs, encoding: 'utf8' },
      (err, stdout, stderr) => {
        const code = err
          ? typeof (err as { code?: unknown }).code === 'number'
            ? (err as { code: number }).code
            : null
          : 0;
        resolve({
          code,
          stdout,
          stderr: stderr || (err && code === null ? String(err.message) : ''),
        });
      },
    );
    if (input !== undefined) child.stdin?.end(input);
  });
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

async function freePort(taken: Set<number>): Promise<number> {
  for (;;) {
    const port = await new Promise<number>((resolve, reject) => {
      const s = net.createServer();
      s.once('error', reject);
      s.listen(0, '0.0.0.0', () => {
        const p = (s.address() as net.AddressInfo).port;
        s.close(() => resolve(p));
      });
    });
    if (!taken.has(port)) {
      taken.add(port);
      return port;
    }
  }
}

/** What `slurmd -C` reports of this machine. */
async function hardware(): Promise<Record<string, number>> {
  const r = await run('slurmd', ['-C'], process.env);
  if (r.code !== 0) throw new Error(`slurmd -C failed: ${r.stderr.trim()}`);
  const hw: Record<string, number> = {};
  for (const m of r.stdout.matchAll(/(\w+)=(\d+)/g)) hw[m[1]] = Number(m[2]);
  if (!hw.CPUs || !hw.RealMemory)
    throw new Error(`slurmd -C said no CPUs or RealMemory: ${r.stdout}`);
  return hw;
}

function requireTools(): void {
  const PATH = (process.env.PATH ?? '/usr/bin:/bin').split(':');
  const missing = [
    'munged',
    'munge',
    'unmunge',
    'slurmctld',
    'slurmd',
    'sbatch',
    'sinfo',
    'squeue',
    'scancel',
  ].filter((t) => !PATH.some((d) => fs.existsSync(path.join(d, t))));
  if (missing.length > 0)
    throw new Error(
      `${missing.join(', ')} missing: npm test installs them (bash scripts/ensure-slurm.sh: apt-get install slurm-wlm munge)`,
    );
}

/** Starts a cluster of one node; see the module's comment. */
export async function startSlurm(opts: SlurmOptions = {}): Promise<SlurmCluster> {
  requireTools();
  const tag = randomBytes(3).toString('hex');
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `wfs-slurm-${tag}-`));
  // munged wants the socket's directory searchable by all.
  fs.chmodSync(dir, 0o755);
  const clusterName = `wfs${tag}`;
  const nodeName = `n${tag}`;
  const conf = path.join(dir, 'slurm.conf');
  const env: NodeJS.ProcessEnv = { ...process.env, SLURM_CONF: conf };
  const children = new Set<ChildProcess>();
  const onExit = () => {
    for (const c of children) c.kill('SIGKILL');
  };
  process.on('exit', onExit);
  const p = (name: string) => path.join(dir, name);

  const daemon = (name: string, cmd: string, args: string[]): ChildProcess => {
    const out = fs.openSync(p(`${name}.out`), 'a');
    const child = spawn(cmd, args, { env, stdio: ['ignore', out, out] });
    fs.closeSync(out);
    children.add(child);
    child.once('exit', () => children.delete(child));
    return child;
  };
  const alive = (c: ChildProcess) => c.exitCode === null && c.signalCode === null;
  const stopChild = async (c: ChildProcess | null, signal: NodeJS.Signals = 'SIGTERM') => {
    if (!c || !alive(c)) return;
    const exited = new Promise<void>((r) => c.once('exit', () => r()));
    c.kill(signal);
    const t = setTimeout(() => c.kill('SIGKILL'), 10_000);
    await exited;
    clearTimeout(t);
  };
  const logTail = (lines = 30): string =>
    ['munged.out', 'slurmctld.out', 'slurmctld.log', 'slurmd.out', 'slurmd.log']
      .map((f) => {
        try {
          return `--- ${f}\n${fs.readFileSync(p(f), 'utf8').split('\n').slice(-lines).join('\n')}`;
        } catch {
          return `--- ${f}: none`;
        }
      })
      .join('\n');

  let munged: ChildProcess | null = null;
  let slurmctld: ChildProcess | null = null;
  let slurmd: ChildProcess | null = null;

  const nodeState = async (): Promise<string> => {
    const r = await run('sinfo', ['-h', '-n', nodeName, '-o', '%T'], env, undefined, 10_000);
    return r.code === 0 ? r.stdout.trim() : '';
  };
  /** Waits until the node responds and takes jobs (a state without `*`, not down, drained or failing). */
  const waitNodeUp = async (timeoutMs: number, what: string) => {
    const deadline = Date.now() + timeoutMs;
    let last = '';
    while (Date.now() < deadline) {
      for (const [name, c] of [
        ['munged', munged],
        ['slurmctld', slurmctld],
        ['slurmd', slurmd],
      ] as const)
        if (c && !alive(c))
          throw new Error(`${what}: ${name} exited (${c.exitCode ?? c.signalCode})\n${logTail()}`);
      last = await nodeState();
      if (/^(idle|mixed|allocated)$/.test(last)) return;
      await sleep(200);
    }
    throw new Error(
      `${what}: node ${nodeName} still "${last}" after ${timeoutMs} ms\n${logTail()}`,
    );
  };

  const startSlurmd = async () => {
    slurmd = daemon('slurmd', 'slurmd', ['-D', '-f', conf, '-N', nodeName]);
    await waitNodeUp(opts.startTimeoutMs ?? 60_000, 'slurmd start');
  };

  const stop = async () => {
    try {
      if (slurmctld && alive(slurmctld)) {
        await run('scancel', ['--user', os.userInfo().username], env, undefined, 10_000);
        // Lets slurmd end its steps while it still can.
        const deadline = Date.now() + 10_000;
        while (slurmd && alive(slurmd) && Date.now() < deadline) {
          const q = await run('squeue', ['-h', '-o', '%i'], env, undefined, 10_000);
          if (q.code !== 0 || q.stdout.trim() === '') break;
          await sleep(200);
        }
      }
      await stopChild(slurmd);
      await stopChild(slurmctld);
      killStraySteps(conf, dir);
      await stopChild(munged);
    } finally {
      for (const c of children) c.kill('SIGKILL');
      process.removeListener('exit', onExit);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };

  try {
    // munge: a key and a daemon of our own.
    fs.writeFileSync(p('munge.key'), randomBytes(1024), { mode: 0o400 });
    const socket = p('munge.socket');
    munged = daemon('munged', 'munged', [
      '-F',
      '--force',
      `--socket=${socket}`,
      `--key-file=${p('munge.key')}`,
      `--pid-file=${p('munged.pid')}`,
      `--log-file=${p('munged.log')}`,
      `--seed-file=${p('munged.seed')}`,
    ]);
    for (let i = 0; ; i++) {
      const cred = await run('munge', ['-n', '-S', socket], env, undefined, 5_000);
      if (cred.code === 0) {
        const un = await run('unmunge', ['-S', socket], env, cred.stdout, 5_000);
        if (/STATUS:\s+Success/.test(un.stdout)) break;
      }
      if (!alive(munged) || i > 50) throw new Error(`munged did not start\n${logTail()}`);
      await sleep(100);
    }

    const hw = await hardware();
    const taken = new Set<number>();
    const ctldPort = await freePort(taken);
    const slurmdPort = await freePort(taken);
    for (const d of ['state', 'spool']) fs.mkdirSync(p(d));
    const realMemory = opts.size?.memoryMb ?? Math.max(1, Math.floor(hw.RealMemory * 0.9));
    const cpus = opts.size?.cpus ?? hw.CPUs;
    const topology =
      !opts.size && hw.SocketsPerBoard && hw.CoresPerSocket && hw.ThreadsPerCore
        ? ` Sockets=${hw.SocketsPerBoard * (hw.Boards || 1)} CoresPerSocket=${hw.CoresPerSocket} ThreadsPerCore=${hw.ThreadsPerCore}`
        : '';
    const features = opts.features?.length ? ` Feature=${opts.features.join(',')}` : '';
    fs.writeFileSync(
      conf,
      [
        `ClusterName=${clusterName}`,
        'SlurmctldHost=localhost',
        `SlurmUser=${os.userInfo().username}`,
        `SlurmctldPort=${ctldPort}`,
        `SlurmdPort=${slurmdPort}`,
        'AuthType=auth/munge',
        'CredType=cred/munge',
        `AuthInfo=socket=${socket}`,
        `StateSaveLocation=${p('state')}`,
        `SlurmdSpoolDir=${p('spool')}`,
        `SlurmctldPidFile=${p('slurmctld.pid')}`,
        `SlurmdPidFile=${p('slurmd.pid')}`,
        `SlurmctldLogFile=${p('slurmctld.log')}`,
        `SlurmdLogFile=${p('slurmd.log')}`,
        'MailProg=/bin/true',
        'MpiDefault=none',
        'ProctrackType=proctrack/linuxproc',
        'TaskPlugin=task/none',
        'SelectType=select/cons_tres',
        'SelectTypeParameters=CR_Core_Memory',
        // A job that asks no memory gets this much a CPU, not the whole node (which would run one job at a time).
        'DefMemPerCPU=256',
        'JobAcctGatherType=jobacct_gather/none',
        'AccountingStorageType=accounting_storage/none',
        'JobCompType=jobcomp/filetxt',
        `JobCompLoc=${p('jobcomp.txt')}`,
        'ReturnToService=2',
        `SlurmdTimeout=${opts.slurmdTimeout ?? 10}`,
        `MinJobAge=${opts.minJobAge ?? 300}`,
        ...(opts.size ? ['SlurmdParameters=config_overrides'] : []),
        `NodeName=${nodeName} NodeHostname=${os.hostname()} NodeAddr=127.0.0.1 CPUs=${cpus}${topology} RealMemory=${realMemory}${features} State=UNKNOWN`,
        `PartitionName=debug Nodes=${nodeName} Default=YES MaxTime=INFINITE State=UP`,
        '',
      ].join('\n'),
    );
    slurmctld = daemon('slurmctld', 'slurmctld', ['-D', '-f', conf]);
    await startSlurmd();
  } catch (e) {
    const tail = logTail();
    await stop().catch(() => undefined);
    throw e instanceof Error && !e.message.includes('--- munged')
      ? new Error(`${e.message}\n${tail}`)
      : e;
  }

  return {
    env: { SLURM_CONF: conf },
    dir,
    nodeName,
    clusterName,
    killSlurmd: () => stopChild(slurmd, 'SIGKILL'),
    startSlurmd,
    stop,
    logTail,
  };
}

/**
 * SIGKILLs the slurmstepd processes of this cluster that outlived slurmd
 * (those whose environment names its conf or whose open files are in its
 * directory), and the processes under them.
 */
function killStraySteps(conf: string, dir: string): void {
  const procs = new Map<number, { ppid: number; comm: string }>();
  for (const name of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = fs.readFileSync(`/proc/${name}/stat`, 'utf8');
      const close = stat.lastIndexOf(')');
      const comm = stat.slice(stat.indexOf('(') + 1, close);
      const ppid = Number(stat.slice(close + 2).split(' ')[1]);
      procs.set(Number(name), { ppid, comm });
    } catch {
      // gone already
    }
  }
  const ours = (pid: number): boolean => {
    try {
      if (
        fs.readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').includes(`SLURM_CONF=${conf}`)
      )
        return true;
    } catch {
      // not readable
    }
    try {
      return fs.readdirSync(`/proc/${pid}/fd`).some((fd) => {
        try {
          return fs.readlinkSync(`/proc/${pid}/fd/${fd}`).startsWith(dir + '/');
        } catch {
          return false;
        }
      });
    } catch {
      return false;
    }
  };
  const victims = new Set<number>();
  for (const [pid, p] of procs) if (p.comm === 'slurmstepd' && ours(pid)) victims.add(pid);
  // And everything under them.
  for (let grew = true; grew;) {
    grew = false;
    for (const [pid, p] of procs)
      if (!victims.has(pid) && victims.has(p.ppid)) {
        victims.add(pid);
        grew = true;
      }
  }
  for (const pid of victims) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone already
    }
  }
}
