import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { Stack, TOKENS } from './stack';

const BIN = path.join(__dirname, '..', '..', 'bin', 'wfs.js');

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
  json: any;
}

/** Runs the real `wfs` binary (compiled: run `npm run build` first) against a stack. */
export function wfs(
  stack: Stack,
  args: string[],
  opts: { role?: keyof typeof TOKENS; cwd?: string; token?: string | null } = {},
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [BIN, ...args], {
      cwd: opts.cwd,
      env: {
        PATH: process.env.PATH ?? '',
        WFS_URL: stack.url,
        ...(opts.token === null ? {} : { WFS_TOKEN: opts.token ?? TOKENS[opts.role ?? 'da'] }),
      },
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code) => {
      let json: any = null;
      try {
        json = JSON.parse(stdout.trim().split('\n').pop() ?? '');
      } catch {
        json = null;
      }
      resolve({ code: code ?? -1, stdout, stderr, json });
    });
  });
}
