/**
 * The one-node Slurm the Slurm tests start (test/support/slurm.ts): it
 * starts, runs a job, and leaves nothing behind when stopped.
 */
import { execFileSync } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { SlurmCluster, startSlurm } from './support/slurm';

jest.setTimeout(120_000);

describe('one-node Slurm harness', () => {
  let cluster: SlurmCluster;
  beforeAll(async () => {
    cluster = await startSlurm();
  });
  afterAll(async () => {
    await cluster?.stop();
  });

  const tool = (cmd: string, args: string[]) =>
    execFileSync(cmd, args, {
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...cluster.env },
      encoding: 'utf8',
    });

  it('runs a trivial sbatch job to COMPLETED with only SLURM_CONF in the client env', async () => {
    const script = path.join(cluster.dir, 'hello.sh');
    fs.writeFileSync(script, '#!/bin/sh\necho hello from "$SLURM_JOB_ID"\n', { mode: 0o700 });
    const out = path.join(cluster.dir, 'hello.out');
    const id = tool('sbatch', [
      '--parsable',
      '--export=ALL',
      `--output=${out}`,
      `--chdir=${cluster.dir}`,
      script,
    ])
      .trim()
      .split(';')[0];
    expect(id).toMatch(/^\d+$/);
    let state = '';
    for (const deadline = Date.now() + 30_000; Date.now() < deadline;) {
      state = tool('squeue', ['-h', '-t', 'all', '-j', id, '-o', '%T']).trim();
      if (state === 'COMPLETED') break;
      await new Promise((r) => setTimeout(r, 200));
    }
    expect(state).toBe('COMPLETED');
    expect(fs.readFileSync(out, 'utf8')).toBe(`hello from ${id}\n`);
    expect(tool('sinfo', ['-h', '-n', cluster.nodeName, '-o', '%T']).trim()).toMatch(
      /^(idle|mixed)$/,
    );
  });

  it('stop() leaves no daemon and no directory behind', async () => {
    const { dir } = cluster;
    const conf = cluster.env.SLURM_CONF;
    await cluster.stop();
    const left = fs
      .readdirSync('/proc')
      .filter((p) => /^\d+$/.test(p))
      .filter((p) => {
        try {
          return fs.readFileSync(`/proc/${p}/cmdline`, 'utf8').includes(dir);
        } catch {
          return false;
        }
      });
    expect(left).toEqual([]);
    expect(fs.existsSync(dir)).toBe(false);
    expect(fs.existsSync(conf)).toBe(false);
    cluster = undefined as unknown as SlurmCluster;
  });
});
