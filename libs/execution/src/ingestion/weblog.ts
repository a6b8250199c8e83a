/**
 * The weblog of a product re-packed with the DA's QA report (qa_notes.html).
 */
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { BuiltinContext } from '../builtin-context';
import { filesUnder } from './product-files';

/** Runs a program with an argument array (no shell); rejects with its stderr unless it exits 0. */
function run(program: string, args: string[], signal: AbortSignal): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(program, args, { stdio: ['ignore', 'pipe', 'pipe'], signal });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString('utf8')));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString('utf8')));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve(stdout)
        : reject(
            new Error(
              `${program} ${args.join(' ')} exited ${code}: ${stderr.trim().slice(0, 500)}`,
            ),
          ),
    );
  });
}

const escapeHtml = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/**
 * The DA's QA report as a section of qa_notes.html. The report is plain text
 * (the DAs' template: qa_standard, qa_analyst, qa_status, qa_comments): it is
 * escaped and kept verbatim in a <pre>, so nothing a report holds can run in
 * the archive's weblog viewer.
 */
export function qaNotesSection(
  report: string,
  ctx: BuiltinContext,
  source: { id: number },
): string {
  const p = ctx.run.parameters;
  const meta = [
    `SRDP QA flag: ${String(p.qaFlag ?? 'null')}`,
    p.analyst ? `analyst: ${String(p.analyst)}` : null,
    `ingestion run ${ctx.run.id} of run ${source.id}`,
  ].filter((x): x is string => x !== null);
  return `<div class="wfs-qa-report">\n<h2>QA report</h2>\n<p>${escapeHtml(meta.join('; '))}</p>\n<pre>${escapeHtml(report)}</pre>\n</div>\n`;
}

function withQaNotes(existing: string | null, section: string): string {
  if (existing === null) {
    return `<!DOCTYPE html>\n<html><head><title>QA notes</title></head><body>\n<h1>QA notes</h1>\n${section}</body></html>\n`;
  }
  const at = existing.lastIndexOf('</body>');
  return at < 0 ? existing + section : existing.slice(0, at) + section + existing.slice(at);
}

/**
 * A copy of the weblog tarball with the DA's report in the weblog's html
 * directory as qa_notes.html (appended to one the pipeline wrote, if any).
 * Uses the system's `tar` (argument arrays, no shell); members other than
 * plain files and directories, absolute names and ".." are refused.
 */
export async function weblogWithQaNotes(
  ctx: BuiltinContext,
  tgz: string,
  dest: string,
  section: string,
): Promise<string> {
  const tree = path.join(ctx.dirs.working, 'weblog_with_qa_notes');
  await fs.promises.rm(tree, { recursive: true, force: true });
  await fs.promises.mkdir(tree, { recursive: true });
  const names = (await run('tar', ['-tzf', tgz], ctx.signal)).split('\n').filter(Boolean);
  const verbose = (await run('tar', ['-tvzf', tgz], ctx.signal)).split('\n').filter(Boolean);
  if (names.length !== verbose.length) throw new Error(`cannot read the member list of ${tgz}`);
  names.forEach((name, i) => {
    const type = verbose[i][0];
    if (
      (type !== '-' && type !== 'd') ||
      name.startsWith('/') ||
      name.startsWith('-') ||
      name.split('/').includes('..')
    ) {
      throw new Error(
        `weblog ${tgz} holds a member wfs will not unpack: ${JSON.stringify(name)} (type ${type})`,
      );
    }
  });
  await run(
    'tar',
    ['-xzf', tgz, '-C', tree, '--no-same-owner', '--no-same-permissions'],
    ctx.signal,
  );

  const files = await filesUnder(tree, ctx.log);
  const index = files.find((f) => /(^|\/)html\/index\.html$/.test(f));
  const htmlDir = index ? path.posix.dirname(index) : (files[0]?.split('/')[0] ?? '');
  if (!index)
    ctx.log(
      `weblog ${tgz} has no html/index.html: qa_notes.html goes to ${htmlDir || 'its top level'}`,
    );
  const notesRel = htmlDir ? `${htmlDir}/qa_notes.html` : 'qa_notes.html';
  const notes = path.join(tree, ...notesRel.split('/'));
  const existing = fs.existsSync(notes) ? await fs.promises.readFile(notes, 'utf8') : null;
  await fs.promises.mkdir(path.dirname(notes), { recursive: true });
  await fs.promises.writeFile(notes, withQaNotes(existing, section));

  const top = (await fs.promises.readdir(tree)).sort();
  if (top.some((t) => t.startsWith('-')))
    throw new Error(`weblog ${tgz} has a top-level entry starting with "-"`);
  const tmp = `${dest}.tmp`;
  await run(
    'tar',
    ['-czf', tmp, '-C', tree, '--sort=name', '--owner=0', '--group=0', '--numeric-owner', ...top],
    ctx.signal,
  );
  await fs.promises.rename(tmp, dest);
  await fs.promises.rm(tree, { recursive: true, force: true });
  return notesRel;
}
