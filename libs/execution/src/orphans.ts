import * as fs from 'node:fs';

/** The environment variable that names the worker a job process was started by. */
export const WORKER_ENV = 'WFS_WORKER_ID';

/**
 * Kills, with SIGKILL, every process of this host whose environment says a
 * given worker started it (WORKER_ENV), with its process group: a dead
 * worker's jobs, including one it spawned but died before recording the pid
 * of. Reads /proc (Linux); elsewhere finds nothing. Returns the pids found.
 */
export function killOrphansOf(workerId: string): number[] {
  const marker = Buffer.from(`\0${WORKER_ENV}=${workerId}\0`);
  let entries: string[];
  try {
    entries = fs.readdirSync('/proc');
  } catch {
    return [];
  }
  const found: number[] = [];
  for (const entry of entries) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const environ = fs.readFileSync(`/proc/${entry}/environ`);
      if (!Buffer.concat([Buffer.from([0]), environ]).includes(marker)) continue;
    } catch {
      continue; // exited meanwhile, or not readable
    }
    const pid = Number(entry);
    found.push(pid);
    for (const target of [-pid, pid]) {
      try {
        process.kill(target, 'SIGKILL'); // -pid: the group it leads (jobs are started detached), if it does
      } catch {
        /* not a group leader, or gone */
      }
    }
  }
  return found;
}
