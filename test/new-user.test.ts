/**
 * What a new user trips over (issue 10), on the real Postgres, Redis and
 * RabbitMQ through REST and the `wfs` CLI: canonical ALMA UIDs as subjects,
 * the DA dead ends (a rejected run's QA, imaging ingested as fail, superseded
 * versions, the flags a re-run used, status after cleanup) and errors that
 * name the next step.
 */
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { startStack, Stack, until, wfs } from '@wfs/testing';

const NOT_ARCHIVED =
  'The data products are not in the archive, please wait and try again. If failures are repeated, please file an SSA ticket.';

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
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');
const write = (name: string, text: string) => {
  const p = path.join(scratch, name);
  fs.writeFileSync(p, text);
  return p;
};
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
        .filter((n) => !['processing', 'qa', 'archive', 'mail', 'cache'].includes(n)),
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

describe("the DA's dead ends", () => {
  test('after reject, the QA of a run cannot change: 409 RUN_REJECTED with the next step', async () => {
    const eb = `22B-${nonce()}.sb1.eb1`;
    const run = await stack.waitForRun((await create('std_calibration', { subject: eb })).id);
    const reject = await wfs(stack, ['reject', String(run.id), '--analyst', 'jdoe']);
    expect(reject.code).toBe(0);
    const qa = await wfs(stack, ['qa', String(run.id), 'pass', '--analyst', 'jdoe']);
    expect(qa.code).toBe(1);
    expect(qa.stderr).toContain(`Run ${run.id} was rejected`);
    expect(qa.stderr).toContain(`wfs rerun ${run.id}`);
    const rest = await stack.call('POST', `/api/v1/runs/${run.id}/qa`, {
      body: { status: 'pass', analyst: 'jdoe' },
    });
    expect(rest.status).toBe(409);
    expect(rest.body.error).toMatchObject({ code: 'RUN_REJECTED', details: { qaState: 'fail' } });
    expect((await stack.call('GET', `/api/v1/runs/${run.id}`)).body.qaState).toBe('fail');
    expect((await stack.call('GET', `/api/v1/archive/subjects/${eb}`)).body.calibrationStatus).toBe(
      'Do Not Calibrate',
    );
  }, 60_000);

  test('ALMA imaging ingested with fail or null is a 400 that says to reject it; nothing is ingested', async () => {
    const run = await stack.waitForRun(
      (await create('std_imaging', { subject: `uid://A001/X${nonce()}/X1` })).id,
    );
    for (const qa of ['fail', 'null']) {
      const cli = await wfs(stack, ['ingest', String(run.id), '--qa', qa, '--analyst', 'asmith']);
      expect(cli.code).toBe(1);
      expect(cli.stderr).toContain('ingested with QA pass only');
      expect(cli.stderr).toContain(`wfs reject ${run.id}`);
      const rest = await stack.call('POST', `/api/v1/runs/${run.id}/ingest`, {
        body: { qa, analyst: 'asmith' },
      });
      expect(rest.status).toBe(400);
      expect(rest.body.error.code).toBe('QA_PASS_ONLY');
      expect(rest.body.error.details.fields).toHaveProperty('qa');
    }
    const after = (await stack.call('GET', `/api/v1/runs/${run.id}`)).body;
    expect(after).toMatchObject({
      archiveState: 'not_ingested',
      qaState: 'awaiting',
      ingestionRunId: null,
    });
  }, 60_000);

  test('a superseded version is cleaned up once the request is sealed; the flags a re-run used are archived; status says the directory is gone', async () => {
    const eb = `22C-${nonce()}.sb1.eb1`;
    const v1 = await stack.waitForRun((await create('std_calibration', { subject: eb })).id);
    const flags = "mode='manual' antenna='ea07' reason='DA re-run flags'\n";
    const rerun = await wfs(stack, [
      'rerun',
      String(v1.id),
      '--flagtemplate',
      write('flagtemplate.txt', flags),
      '--watch',
      '--json',
    ]);
    expect(rerun.code).toBe(0);
    const v2 = (await stack.call('GET', `/api/v1/runs?subject=${eb}`)).body.items[0];
    expect(v2.version).toBe(2);

    // Before anything is ingested, cleanup of v1 is refused with the exact message and the next step.
    const early = await wfs(stack, ['cleanup', String(v1.id)]);
    expect(early.code).toBe(1);
    const [first, second] = early.stderr.trim().split('\n');
    expect(first).toContain(NOT_ARCHIVED);
    expect(second?.trim()).toBe(
      `No ingestion of run ${v1.id} was started; start one with: wfs ingest ${v1.id} --qa pass|fail|null --analyst NAME (POST /api/v1/runs/${v1.id}/ingest).`,
    );
    const rest = await stack.call('POST', `/api/v1/runs/${v1.id}/cleanup`);
    expect(rest.status).toBe(409);
    expect(rest.body.error).toMatchObject({
      code: 'NOT_ARCHIVED',
      message: NOT_ARCHIVED,
      details: { ingestion: 'not_started', archiveState: 'not_ingested' },
    });

    // v2 is ingested without giving the flags again: the ones it used go with its product.
    const ingest = await wfs(stack, [
      'ingest',
      String(v2.id),
      '--qa',
      'pass',
      '--analyst',
      'jdoe',
      '--watch',
    ]);
    expect(ingest.code).toBe(0);
    const product = (await stack.call('GET', `/api/v1/archive/subjects/${eb}`)).body.products[0];
    expect(product.sourceRunId).toBe(v2.id);
    expect(product.files).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ path: 'flagtemplate.txt', role: 'flags', sha256: sha256(flags) }),
      ]),
    );

    // v1 is superseded: reject and QA say the request is sealed and point to cleanup ...
    const sealed = await wfs(stack, ['reject', String(v1.id), '--analyst', 'jdoe']);
    expect(sealed.code).toBe(1);
    expect(sealed.stderr).toContain('is sealed');
    expect(sealed.stderr).toContain(`wfs cleanup ${v1.id}`);
    // The refused reject touched nothing: the EB stays Calibrated, v1's directory is there.
    expect((await stack.call('GET', `/api/v1/archive/subjects/${eb}`)).body.calibrationStatus).toBe(
      'Calibrated',
    );
    // ... and cleanup deletes its directory, with a cleaned event.
    const dry = await wfs(stack, ['cleanup', String(v1.id), '--dry-run']);
    expect(dry.stderr).toBe('');
    expect(dry.stdout.trim()).toBe(`would delete ${v1.processingDir}`);
    expect(fs.existsSync(v1.processingDir)).toBe(true);
    const clean = await wfs(stack, ['cleanup', String(v1.id)]);
    expect(clean.stderr).toBe('');
    expect(clean.code).toBe(0);
    expect(clean.stdout.trim()).toBe(`deleted ${v1.processingDir}`);
    expect(fs.existsSync(v1.processingDir)).toBe(false);
    const events = (await stack.call('GET', `/api/v1/runs/${v1.id}/events`)).body.items;
    expect(events.at(-1)).toMatchObject({ type: 'cleaned', diskState: 'removed' });

    // wfs status no longer shows the directory as if it were there.
    const status = await wfs(stack, ['status', String(v1.id)]);
    expect(status.stdout).toContain(
      `  directory ${v1.processingDir}  (removed: no longer on disk)`,
    );
    // The archived version stays as it was.
    expect((await stack.call('GET', `/api/v1/runs/${v2.id}`)).body).toMatchObject({
      archiveState: 'ingested',
      diskState: 'processing',
    });
  }, 120_000);
});

describe('errors that say what to do', () => {
  test('a parameter failing an enum lists the allowed values (REST and CLI)', async () => {
    const r = await stack.call('POST', '/api/v1/workflows/std_calibration/runs', {
      body: { subject: 'E.eb1', parameters: { recipe: 'hifx' } },
    });
    expect(r.status).toBe(400);
    expect(r.body.error.details.fields['parameters.recipe']).toBe(
      'must be one of: hifv, hifv_calimage_cont',
    );
    const cli = await wfs(stack, [
      'submit',
      'std_calibration',
      '--subject',
      'E.eb1',
      '--param',
      'recipe=hifx',
    ]);
    expect(cli.code).toBe(1);
    expect(cli.stderr).toContain('parameters.recipe: must be one of: hifv, hifv_calimage_cont');
    const typo = await stack.call('POST', '/api/v1/workflows/std_calibration/runs', {
      body: { subject: 'E.eb1', parameters: { recipie: 'hifv' } },
    });
    expect(typo.body.error.details.fields['parameters.recipie']).toBe(
      'is not a parameter of this workflow. Did you mean recipe?',
    );
  });

  test('a missing CLI flag is named, with the usage line', async () => {
    const r = await wfs(stack, ['ingest', '5']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--qa pass|fail|null is required; --analyst NAME is required');
    expect(r.stderr).toContain('usage: wfs ingest <runId> --qa pass|fail|null --analyst NAME');
    const qa = await wfs(stack, ['qa', '5', '--analyst', 'a']);
    expect(qa.code).toBe(2);
    expect(qa.stderr).toContain('the QA status (pass, fail or null) is missing');
  });

  test('an unknown command, option or workflow gets "did you mean"', async () => {
    const command = await wfs(stack, ['stauts', '1']);
    expect(command.code).toBe(2);
    expect(command.stderr).toContain('unknown command "stauts". Did you mean status?');
    const option = await wfs(stack, ['qa', '1', 'pass', '--anlyst', 'jdoe']);
    expect(option.code).toBe(2);
    expect(option.stderr).toContain('unknown option --anlyst. Did you mean --analyst?');
    const workflow = await wfs(stack, ['submit', 'std_calibraton', '--subject', 'x.eb1']);
    expect(workflow.code).toBe(1);
    expect(workflow.stderr).toContain('No workflow std_calibraton. Did you mean std_calibration?');
    const rest = await stack.call('GET', '/api/v1/workflows/std_imagin');
    expect(rest.status).toBe(404);
    expect(rest.body.error).toMatchObject({
      code: 'WORKFLOW_NOT_FOUND',
      details: { suggestions: ['std_imaging'] },
    });
  });

  test('--param values are strings where the schema says string (casaVersion=6.6 is not a number)', async () => {
    const r = await wfs(stack, [
      'submit',
      'std_calibration',
      '--subject',
      'C.eb1',
      '--param',
      'casaVersion=6.6',
      '--json',
    ]);
    expect(r.code).toBe(1);
    const problem = r.json.error.details.fields['parameters.casaVersion'];
    expect(problem).not.toMatch(/must be string/);
    expect(problem).toMatch(/^must match .*; CASA version to run, e\.g\. 6\.6\.1-17/);
    const ok = await wfs(stack, [
      'submit',
      'std_calibration',
      '--subject',
      'C.eb2',
      '--param',
      'casaVersion=6.6.1',
      '--param',
      'recipe=hifv',
      '--json',
    ]);
    expect(ok.code).toBe(0);
    expect(ok.json.parameters).toMatchObject({ casaVersion: '6.6.1', recipe: 'hifv' });
    // A re-run reads the schema of the run's workflow the same way.
    const rerun = await wfs(stack, [
      'rerun',
      String(ok.json.id),
      '--param',
      'casaVersion=6.6',
      '--json',
    ]);
    expect(rerun.json.error.details.fields['parameters.casaVersion']).toMatch(/^must match/);
  }, 60_000);

  test('a 401 says how to pass a token: Authorization: Bearer for REST, WFS_TOKEN for the CLI', async () => {
    const none = await stack.call('GET', '/api/v1/runs', { role: null });
    expect(none.status).toBe(401);
    expect(none.body.error.message).toContain('Authorization: Bearer <token>');
    expect(none.body.error.message).toContain('WFS_TOKEN');
    const bad = await stack.call('GET', '/api/v1/runs', {
      role: null,
      headers: { authorization: 'Bearer nope' },
    });
    expect(bad.body.error.message).toMatch(/^The token is not valid/);
    const unset = await wfs(stack, ['list'], { token: null });
    expect(unset.code).toBe(1);
    expect(unset.stderr).toContain('WFS_TOKEN is not set: export WFS_TOKEN=<your token>');
    const wrong = await wfs(stack, ['list'], { token: 'nope' });
    expect(wrong.stderr).toContain('WFS_TOKEN is set but the service does not accept it');
  });
});
