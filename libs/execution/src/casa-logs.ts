import * as fs from 'node:fs';
import * as path from 'node:path';
import * as readline from 'node:readline';

/** A CASA log line at level SEVERE: `2026-11-21 10:00:01<tab>SEVERE<tab>task::::casa<tab>message`. */
const SEVERE_LINE = /^\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?\s+SEVERE\s/;

/** First SEVERE line in one file, or null. Streams: CASA logs can be large. */
async function firstSevere(file: string): Promise<string | null> {
  const lines = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
  try {
    for await (const line of lines) if (SEVERE_LINE.test(line)) return line.trim().slice(0, 500);
  } finally {
    lines.close();
  }
  return null;
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
  const casaLogs = (await fs.promises.readdir(workingDir).catch(() => [] as string[]))
    .filter((f) => /^casa.*\.log$/.test(f))
    .map((f) => path.join(workingDir, f))
    .filter((f) => fs.statSync(f).mtimeMs >= since.getTime() - 1000)
    .sort();
  for (const file of [...casaLogs, ...jobLogs]) {
    if (!fs.existsSync(file)) continue;
    const line = await firstSevere(file);
    if (line) return line;
  }
  return null;
}
