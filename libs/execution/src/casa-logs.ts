import * as path from 'node:path';
import * as readline from 'node:readline';
import { filesIn, openRead } from '@wfs/storage';

/** A CASA log line at level SEVERE: `2026-11-21 10:00:01<tab>SEVERE<tab>task::::casa<tab>message`. */
const SEVERE_LINE = /^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?\s+SEVERE\s/;

/**
 * First SEVERE line in one file (read without following a link: a tool's
 * link to a file elsewhere is not read), or null. Streams: CASA logs can be
 * large. Files written since `since` only, when given.
 */
async function firstSevere(file: string, since: Date | null): Promise<string | null> {
  const handle = await openRead(path.dirname(file), path.basename(file)).catch(() => null);
  if (!handle) return null;
  try {
    if (since && (await handle.stat()).mtimeMs < since.getTime() - 1000) return null;
    const lines = readline.createInterface({
      input: handle.createReadStream({ autoClose: false }),
      crlfDelay: Infinity,
    });
    try {
      for await (const line of lines) if (SEVERE_LINE.test(line)) return line.trim().slice(0, 500);
    } finally {
      lines.close();
    }
    return null;
  } finally {
    await handle.close();
  }
}

/**
 * The CASA completion standard's log rule: the first SEVERE line in the
 * job's own stdout/stderr or in any casa-*.log written in `working` since the
 * attempt started.
 */
export async function findSevereLine(
  workingDir: string,
  jobLogs: string[],
  since: Date,
): Promise<string | null> {
  const casaLogs = (await filesIn(workingDir))
    .filter((f) => /^casa.*\.log$/.test(f))
    .map((f) => path.join(workingDir, f));
  for (const file of casaLogs) {
    const line = await firstSevere(file, since);
    if (line) return line;
  }
  for (const file of jobLogs) {
    const line = await firstSevere(file, null);
    if (line) return line;
  }
  return null;
}
