/**
 * What a new user trips over (issue 10), on the real Postgres, Redis and
 * RabbitMQ through REST and the `wfs` CLI: canonical ALMA UIDs as subjects,
 * the DA dead ends (a rejected run's QA, imaging ingested as fail, superseded
 * versions, the flags a re-run used, status after cleanup) and errors that
 * name the next step.
 */
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startStack, Stack, until, wfs } from '@wfs/testing';

let stack: Stack;
let scratch: string;
beforeAll(async () => {
  stack = await startStack();
  scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'wfs-new-user-'));
});
afterAll(async () => {
  await stack?.stop();
  fs.rmSync(scratch, { recursive: true, force: true });
});

const nonce = () => `${Date.now().toString(16)}${Math.floor(Math.random() * 1e4)}`;
const create = async (workflow: string, body: Record<string, unknown>) => {
  const r = await stack.call('POST', `/api/v1/workflows/${workflow}/runs`, {
    body: { submit: true, ...body },
  });
  if (r.status !== 201) throw new Error(`POST ${workflow}: ${r.status} ${r.text}`);
  return r.body;
};
/** Every path under a directory, relative to it. */
const tree = (dir: string): string[] =>
  fs
    .readdirSync(dir, { withFileTypes: true })
    .flatMap((e) =>
      e.isDirectory()
        ? [e.name, ...tree(path.join(dir, e.name)).map((p) => `${e.name}/${p}`)]
        : [e.name],
    );

describe('subjects (CONTRACT 5.2)', () => {
  test('a canonical MOUS UID goes through the CLI, the run, the archive (percent-encoded) and the mail; names use its file-safe form', async () => {
    const mous = `uid://A001/X${nonce()}/X2c1`;
    const safe = mous.replace(/[/:]/g, '_');
    const submitted = await wfs(stack, ['submit', 'std_imaging', '--subject', mous, '--watch']);
    expect(submitted.stderr).toBe('');
    expect(submitted.code).toBe(0);
    expect(submitted.stdout).toContain(`std_imaging v1  ${mous}  complete`);
    const listed = await wfs(stack, ['list', '--subject', mous, '--json']);
    expect(listed.json).toHaveLength(1);
    const run = listed.json[0];
    expect(run).toMatchObject({ subject: mous, state: 'complete', diskState: 'qa' });
    // Directory and file names come from the file-safe form; the run id keeps the directory unique.
    expect(path.basename(run.processingDir)).toBe(`std_imaging_${run.id}`);
    expect(fs.readdirSync(path.join(run.processingDir, 'rawdata'))).toEqual([safe]);
    const products = fs.readdirSync(path.join(run.processingDir, 'products'));
    expect(products).toContain(`${safe}.sci.cont.I.pbcor.fits`);
    expect(products.some((f) => f.includes('uid:'))).toBe(false);

    // The SRDP operations manager's mail names the subject as it is.
    const mail = await until('the completion mail', () => {
      const files = fs.existsSync(stack.config.mailDir) ? fs.readdirSync(stack.config.mailDir) : [];
      return (
        files
          .map((f) => fs.readFileSync(path.join(stack.config.mailDir, f), 'utf8'))
          .find((m) => m.includes(`run ${run.id}`) && /complete/.test(m)) ?? null
      );
    });
    expect(mail).toContain(mous);

    const ingest = await wfs(stack, [
      'ingest',
      String(run.id),
      '--qa',
      'pass',
      '--analyst',
      'asmith',
      '--watch',
    ]);
    expect(ingest.stderr).toBe('');
    expect(ingest.code).toBe(0);
    const archived = await stack.call(
      'GET',
      `/api/v1/archive/subjects/${encodeURIComponent(mous)}`,
      {
        role: 'viewer',
      },
    );
    expect(archived.status).toBe(200);
    expect(archived.body.subject).toBe(mous);
    const product = archived.body.products[0];
    expect(product).toMatchObject({
      name: `${safe}.img.r${run.id}`,
      subject: mous,
      qaFlag: 'pass',
      sourceRunId: run.id,
    });
    const byName = await stack.call(
      'GET',
      `/api/v1/archive/products/${encodeURIComponent(product.name)}`,
    );
    expect(byName.body.subject).toBe(mous);
    expect(fs.existsSync(path.join(stack.config.archiveRoot, product.name))).toBe(true);
  }, 120_000);

  test('a subject is never a path: ../../x, spaces, shell words make nothing outside the roots', async () => {
    const tag = nonce();
    const subjects = [
      `../../x${tag}`,
      `../../../tmp/y${tag}`,
      `a b ${tag}`,
      `.h${tag}`,
      `$(id)${tag}`,
      `é${tag}`,
    ];
    const runs = [];
    for (const subject of subjects) runs.push(await create('std_calibration', { subject }));
    for (const r of runs) expect((await stack.waitForRun(r.id)).state).toBe('complete');
    for (const [i, r] of runs.entries()) {
      const run = (await stack.call('GET', `/api/v1/runs/${r.id}`)).body;
      expect(run.subject).toBe(subjects[i]);
      expect(path.dirname(run.processingDir)).toBe(stack.config.qaRoot);
      const [raw] = fs.readdirSync(path.join(run.processingDir, 'rawdata'));
      expect(raw).not.toMatch(/^\.|[/:]/);
    }
    // Nothing was written beside the roots or above the data root.
    expect(fs.readdirSync(stack.dataRoot).sort()).toEqual(
      expect.arrayContaining(['processing', 'qa']),
    );
    expect(
      fs
        .readdirSync(stack.dataRoot)
        .filter((n) => !['processing', 'qa', 'archive', 'mail'].includes(n)),
    ).toEqual([]);
    expect(fs.existsSync(path.join(os.tmpdir(), `y${tag}`))).toBe(false);
    expect(fs.existsSync(path.join(stack.dataRoot, '..', `x${tag}`))).toBe(false);
    // Every file named after these subjects lies inside a run directory.
    const named = tree(stack.config.qaRoot).filter((p) => p.includes(tag));
    expect(named.length).toBeGreaterThan(0);
    expect(
      named.filter((p) => !/^std_calibration_\d+\/(rawdata|working|products)\//.test(p)),
    ).toEqual([]);
  }, 120_000);

  test('a subject CONTRACT 5.2 refuses is a 400 naming it; 200 characters are fine', async () => {
    for (const subject of ['', 'x'.repeat(201), 'a\u0000b', 'a\nb', 'a\u007fb', 'a\u0085b']) {
      const r = await stack.call('POST', '/api/v1/workflows/std_calibration/runs', {
        body: { subject },
      });
      expect(r.status).toBe(400);
      expect(r.body.error.details.fields).toHaveProperty('subject');
    }
    const long = await stack.call('POST', '/api/v1/workflows/std_calibration/runs', {
      body: { subject: `uid://${'X'.repeat(194)}` },
    });
    expect(long.status).toBe(201);
    expect(long.body.subject).toHaveLength(200);
  });
});
